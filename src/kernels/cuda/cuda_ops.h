#pragma once
// CUDA bodies, one .cu file per op family, launched on the context's stream. Same contracts as
// kernels/ops.h; outputs are sized by the front ends. F32, BF16 and F16 operands are accepted
// (accumulation and softmax / norm statistics in fp32). Compiled only in the CUDA build.
#include "core/context.h"
#include "core/tensor.h"
#include "kernels/ops.h"

namespace sp::cuda {

void embedding(ExecContext& ctx, const Tensor& table, const Tensor& ids, Tensor& out);
void linear(ExecContext& ctx, const Tensor& x, const Tensor& w, const Tensor& bias, Precision p, Tensor& y);
void rms_norm(ExecContext& ctx, const Tensor& x, const Tensor& w, float eps, Tensor& y);
void layer_norm(ExecContext& ctx, const Tensor& x, const Tensor& w, const Tensor& b, float eps, Tensor& y);
void rope(ExecContext& ctx, Tensor& x, const Tensor& positions, int heads, int head_dim, float theta);
void attention(ExecContext& ctx, const Tensor& q, const Tensor& k, const Tensor& v, const ops::AttentionShape& s,
               Tensor& out);
void silu_mul(ExecContext& ctx, const Tensor& gate, const Tensor& up, Tensor& out);
void relu(ExecContext& ctx, Tensor& x);
void add(ExecContext& ctx, Tensor& x, const Tensor& y);
void token_nll(ExecContext& ctx, const Tensor& logits, const Tensor& targets, Tensor& out);
void argmax_rows(ExecContext& ctx, const Tensor& logits, Tensor& out);
void convert(ExecContext& ctx, const Tensor& x, Tensor& out);

}  // namespace sp::cuda
