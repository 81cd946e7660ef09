#pragma once
// CPU bodies: arithmetic only; the front ends (kernels/ops_*.cpp) have checked shapes and sized
// the outputs. Operands are F32 (CPU compute is fp32; bf16 weights are converted on load).
// These are also the oracle every CUDA body is tested against.
#include "core/tensor.h"
#include "kernels/ops.h"

namespace sp::cpu {

void embedding(const Tensor& table, const Tensor& ids, Tensor& out);
void linear(const Tensor& x, const Tensor& w, const Tensor& bias, Tensor& y);
void rms_norm(const Tensor& x, const Tensor& w, float eps, Tensor& y);
void layer_norm(const Tensor& x, const Tensor& w, const Tensor& b, float eps, Tensor& y);
void rope(Tensor& x, const Tensor& positions, int heads, int head_dim, float theta);
void attention(const Tensor& q, const Tensor& k, const Tensor& v, const ops::AttentionShape& s, Tensor& out);
void silu_mul(const Tensor& gate, const Tensor& up, Tensor& out);
void relu(Tensor& x);
void add(Tensor& x, const Tensor& y);
void token_nll(const Tensor& logits, const Tensor& targets, Tensor& out);
void argmax_rows(const Tensor& logits, Tensor& out);
void convert(const Tensor& x, Tensor& out);

}  // namespace sp::cpu
