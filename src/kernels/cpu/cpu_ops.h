#pragma once
// CPU bodies: arithmetic only; the front ends (kernels/ops_*.cpp) have checked shapes and sized
// the outputs. Operands are F32 (CPU compute is fp32; bf16 weights are converted on load); the
// pruning ops below also take F64 (see kernels/ops_linalg.h). These are also the oracle every CUDA
// body is tested against.
#include <vector>

#include "core/tensor.h"
#include "kernels/ops.h"

namespace sp::cpu {

void embedding(const Tensor& table, const Tensor& ids, Tensor& out);
void linear(const Tensor& x, const Tensor& w, const Tensor& bias, Tensor& y);
void rms_norm(const Tensor& x, const Tensor& w, float eps, float w_offset, Tensor& y);
void layer_norm(const Tensor& x, const Tensor& w, const Tensor& b, float eps, Tensor& y);
void rope(Tensor& x, const Tensor& positions, int heads, int head_dim, int rotary_dim,
          const std::vector<float>& inv_freq, float attention_factor);
void attention(const Tensor& q, const Tensor& k, const Tensor& v, const ops::AttentionShape& s, Tensor& out);
void kv_cache_write(Tensor& cache, const Tensor& x, const Tensor& positions, int seqlen);
void rope_kv_write(const Tensor& qkv, const Tensor& positions, int seqlen, const ops::RopeArgs& r, Tensor& k_cache,
                   Tensor& v_cache, Tensor& q);
void add_i32(Tensor& x, int32_t v);
void gated_act(const Tensor& gate, const Tensor& up, ops::GateAct act, Tensor& out);
void gated_act(const Tensor& gate_up, ops::GateAct act, Tensor& out);  // gate_up [M, 2F]
void scale(Tensor& x, float s);
void softcap(Tensor& x, float cap);
void relu(Tensor& x);
void add(Tensor& x, const Tensor& y);
void token_nll(const Tensor& logits, const Tensor& targets, Tensor& out);
void kl_div_rows(const Tensor& p, const Tensor& q, Tensor& out);
void argmax_rows(const Tensor& logits, Tensor& out);
void convert(const Tensor& x, Tensor& out);  // F32 / F64 / BF16 / F16 in any direction

// Pruning ops (kernels/ops_linalg.h), cpu_linalg.cpp. Statistics take F32 or F64 activations; the
// gathers / scatters any float dtype; the dense algebra F32 or F64. Outputs are fully written.
void gram_accumulate(Tensor& acc, const Tensor& a, const Tensor& b);
void exact_accumulate(Tensor& acc, const Tensor& x);
void exact_value(const Tensor& acc, Tensor& out);
void exact_accumulate_lower(Tensor& acc, const Tensor& x);  // packed lower triangle (ops_linalg.h)
void exact_value_symmetric(const Tensor& acc, Tensor& out);
void synthetic_normal(Tensor& out, uint64_t key, float stddev);
void column_stats(Tensor& sum, Tensor& sumsq, const Tensor& x);  // either output may be undefined
void select_rows(const Tensor& x, const Tensor& idx, Tensor& out);
void select_cols(const Tensor& x, const Tensor& idx, Tensor& out);
void select_diagonal_blocks(const Tensor& x, const Tensor& idx, Tensor& out);
void expand_rows(const Tensor& x, const Tensor& idx, Tensor& out);  // zeros outside idx
void expand_cols(const Tensor& x, const Tensor& idx, Tensor& out);
void transpose(const Tensor& x, Tensor& out);
void gemm(Tensor& c, const Tensor& a, bool trans_a, const Tensor& b, bool trans_b, double alpha, double beta);
bool cholesky(Tensor& a);
void cholesky_solve(const Tensor& l, const Tensor& b, Tensor& x);
void cholesky_inverse(const Tensor& l, Tensor& out);
void block_saliencies(const Tensor& a, const Tensor& w, int64_t block, std::vector<double>& out);
void divide_by(Tensor& s, const Tensor& d);                         // s[j] /= d[j]; +inf where d[j] <= 0 or NaN
void sub_column_dots(Tensor& d, const Tensor& a, const Tensor& b);  // d[j] -= sum_i a[i, j] b[i, j]
void pick_cheapest(const Tensor& cost, const Tensor& at, Tensor& live, Tensor& picked, Tensor& picked_cost);
void group_columns(const Tensor& picked, const Tensor& members, const Tensor& pos, int64_t b, Tensor& out);
void add_diagonal(Tensor& a, double v);
void add_scaled(Tensor& y, double alpha, const Tensor& x);  // product rounded, then the sum
void diagonal(const Tensor& a, Tensor& out);
// The CPU bodies' thread count (runtime.threads): Eigen's products and the row-parallel output ops.
// n <= 0: every core.
void set_threads(int n);
int threads();

}  // namespace sp::cpu
