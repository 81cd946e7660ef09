#pragma once
// CUDA bodies, one .cu file per op family, launched on the context's stream. Same contracts as
// kernels/ops.h; outputs are sized by the front ends. F32, BF16 and F16 operands are accepted
// (accumulation and softmax / norm statistics in fp32). Compiled only in the CUDA build.
#include <vector>

#include "core/context.h"
#include "core/tensor.h"
#include "kernels/ops.h"

namespace sp::cuda {

void embedding(ExecContext& ctx, const Tensor& table, const Tensor& ids, Tensor& out);
void linear(ExecContext& ctx, const Tensor& x, const Tensor& w, const Tensor& bias, Precision p, Tensor& y);
void rms_norm(ExecContext& ctx, const Tensor& x, const Tensor& w, float eps, float w_offset, Tensor& y);
void add_rms_norm(ExecContext& ctx, Tensor& x, const Tensor& y, const Tensor& w, float eps, float w_offset,
                  Tensor& out);
void layer_norm(ExecContext& ctx, const Tensor& x, const Tensor& w, const Tensor& b, float eps, Tensor& y);
void rope(ExecContext& ctx, Tensor& x, const Tensor& positions, int heads, int head_dim, int rotary_dim,
          const std::vector<float>& inv_freq, float attention_factor);
void attention(ExecContext& ctx, const Tensor& q, const Tensor& k, const Tensor& v, const ops::AttentionShape& s,
               Tensor& out);
void kv_cache_write(ExecContext& ctx, Tensor& cache, const Tensor& x, const Tensor& positions, int seqlen);
void rope_kv_write(ExecContext& ctx, const Tensor& qkv, const Tensor& positions, int seqlen, const ops::RopeArgs& r,
                   Tensor& k_cache, Tensor& v_cache, Tensor& q);
void add_i32(ExecContext& ctx, Tensor& x, int32_t v);
void gated_act(ExecContext& ctx, const Tensor& gate, const Tensor& up, ops::GateAct act, Tensor& out);
void gated_act(ExecContext& ctx, const Tensor& gate_up, ops::GateAct act, Tensor& out);  // gate_up [M, 2F]
void scale(ExecContext& ctx, Tensor& x, float s);  // s already rounded to x's dtype
void softcap(ExecContext& ctx, Tensor& x, float cap);
void relu(ExecContext& ctx, Tensor& x);
void add(ExecContext& ctx, Tensor& x, const Tensor& y);
void token_nll(ExecContext& ctx, const Tensor& logits, const Tensor& targets, Tensor& out);
void kl_div_rows(ExecContext& ctx, const Tensor& p, const Tensor& q, Tensor& out);
void argmax_rows(ExecContext& ctx, const Tensor& logits, Tensor& out);
void convert(ExecContext& ctx, const Tensor& x, Tensor& out);  // F32 / F64 / BF16 / F16 in any direction

// Pruning ops (kernels/ops_linalg.h), linalg.cu: cuBLAS / cuSOLVER on the context's handles and
// stream, small kernels for the rest. Statistics take F32 / BF16 / F16 / F64 activations (F64
// accumulators); the gathers / scatters any float dtype; the dense algebra F32 or F64 (F32 products
// exact fp32, no TF32). Outputs are fully written. cholesky copies one status word to the host
// (a synchronisation); the other bodies only enqueue work.
void gram_accumulate(ExecContext& ctx, Tensor& acc, const Tensor& a, const Tensor& b);
void exact_accumulate(ExecContext& ctx, Tensor& acc, const Tensor& x);
void exact_value(ExecContext& ctx, const Tensor& acc, Tensor& out);
void exact_accumulate_lower(ExecContext& ctx, Tensor& acc, const Tensor& x);
void gram_exact_accumulate(ExecContext& ctx, Tensor& acc, const Tensor& a);  // a: 16-bit / F32, >= kGramBlocksFrom
void exact_value_symmetric(ExecContext& ctx, const Tensor& acc, Tensor& out);
void synthetic_normal(ExecContext& ctx, Tensor& out, uint64_t key, float stddev);
void column_stats(ExecContext& ctx, Tensor& sum, Tensor& sumsq, const Tensor& x);
void select_rows(ExecContext& ctx, const Tensor& x, const Tensor& idx, Tensor& out);
void select_cols(ExecContext& ctx, const Tensor& x, const Tensor& idx, Tensor& out);
void select_diagonal_blocks(ExecContext& ctx, const Tensor& x, const Tensor& idx, Tensor& out);
void expand_rows(ExecContext& ctx, const Tensor& x, const Tensor& idx, Tensor& out);
void expand_cols(ExecContext& ctx, const Tensor& x, const Tensor& idx, Tensor& out);
void transpose(ExecContext& ctx, const Tensor& x, Tensor& out);
void gemm(ExecContext& ctx, Tensor& c, const Tensor& a, bool trans_a, const Tensor& b, bool trans_b, double alpha,
          double beta);
bool cholesky(ExecContext& ctx, Tensor& a, Tensor* failures);
void cholesky_solve(ExecContext& ctx, const Tensor& l, const Tensor& b, Tensor& x);
// From this width on the inverse is a recursive trtri + lauum (2n^3/3 flops on large trmm / syrk
// blocks); below it, two triangular solves against the identity (2n^3 flops, but few large calls):
// bench/bench_linalg on an H100, F64: solves 6.2 ms against 10.3 at n = 4096, recursion 58 against
// 65 ms at 11008 and 444 against 923 ms at 28672.
inline constexpr int64_t kRecursiveInverseFrom = 8192;
void cholesky_inverse(ExecContext& ctx, const Tensor& l, Tensor& out, int64_t recursive_from = kRecursiveInverseFrom);
void block_saliencies(ExecContext& ctx, Tensor& a, const Tensor& w, int64_t block, std::vector<double>& out);
void divide_by(ExecContext& ctx, Tensor& s, const Tensor& d);
void sub_column_dots(ExecContext& ctx, Tensor& d, const Tensor& a, const Tensor& b);
void pick_cheapest(ExecContext& ctx, const Tensor& cost, const Tensor& at, Tensor& live, Tensor& picked,
                   Tensor& picked_cost);  // pick.cu
void group_columns(ExecContext& ctx, const Tensor& picked, const Tensor& members, const Tensor& pos, int64_t b,
                   Tensor& out);  // pick.cu
void copy(ExecContext& ctx, Tensor& dst, const Tensor& src);
void add_diagonal(ExecContext& ctx, Tensor& a, double v);
void add_scaled(ExecContext& ctx, Tensor& y, double alpha, const Tensor& x);
void diagonal(ExecContext& ctx, const Tensor& a, Tensor& out);

}  // namespace sp::cuda
