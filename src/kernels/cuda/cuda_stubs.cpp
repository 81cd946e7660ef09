// CPU-only build (-DSTRUPRUNE_CUDA=OFF): the CUDA bodies the front ends name, as stubs, so the front
// ends dispatch without #ifdefs. Unreachable in practice: a CUDA ExecContext cannot be created in
// such a build (core/context_nocuda.cpp), but an error beats a link failure.
#include "kernels/cuda/cuda_ops.h"
#include "kernels/ops_common.h"

namespace sp::cuda {

using ops::detail::no_cuda_backend;

void embedding(ExecContext&, const Tensor&, const Tensor&, Tensor&) { no_cuda_backend("embedding"); }
void linear(ExecContext&, const Tensor&, const Tensor&, const Tensor&, Precision, Tensor&) {
  no_cuda_backend("linear");
}
void rms_norm(ExecContext&, const Tensor&, const Tensor&, float, float, Tensor&) { no_cuda_backend("rms_norm"); }
void add_rms_norm(ExecContext&, Tensor&, const Tensor&, const Tensor&, float, float, Tensor&) {
  no_cuda_backend("add_rms_norm");
}
void layer_norm(ExecContext&, const Tensor&, const Tensor&, const Tensor&, float, Tensor&) {
  no_cuda_backend("layer_norm");
}
void rope(ExecContext&, Tensor&, const Tensor&, int, int, int, const std::vector<float>&, float) {
  no_cuda_backend("rope");
}
void attention(ExecContext&, const Tensor&, const Tensor&, const Tensor&, const ops::AttentionShape&, Tensor&) {
  no_cuda_backend("attention");
}
void kv_cache_write(ExecContext&, Tensor&, const Tensor&, const Tensor&, int) { no_cuda_backend("kv_cache_write"); }
void rope_kv_write(ExecContext&, const Tensor&, const Tensor&, int, const ops::RopeArgs&, Tensor&, Tensor&, Tensor&) {
  no_cuda_backend("rope_kv_write");
}
void add_i32(ExecContext&, Tensor&, int32_t) { no_cuda_backend("add_i32"); }
void gated_act(ExecContext&, const Tensor&, const Tensor&, ops::GateAct, Tensor&) { no_cuda_backend("gated_act"); }
void gated_act(ExecContext&, const Tensor&, ops::GateAct, Tensor&) { no_cuda_backend("gated_act"); }
void scale(ExecContext&, Tensor&, float) { no_cuda_backend("scale"); }
void softcap(ExecContext&, Tensor&, float) { no_cuda_backend("softcap"); }
void relu(ExecContext&, Tensor&) { no_cuda_backend("relu"); }
void add(ExecContext&, Tensor&, const Tensor&) { no_cuda_backend("add"); }
void token_nll(ExecContext&, const Tensor&, const Tensor&, Tensor&) { no_cuda_backend("token_nll"); }
void kl_div_rows(ExecContext&, const Tensor&, const Tensor&, Tensor&) { no_cuda_backend("kl_div_rows"); }
void argmax_rows(ExecContext&, const Tensor&, Tensor&) { no_cuda_backend("argmax_rows"); }
void convert(ExecContext&, const Tensor&, Tensor&) { no_cuda_backend("convert"); }
void gram_accumulate(ExecContext&, Tensor&, const Tensor&, const Tensor&) { no_cuda_backend("gram_accumulate"); }
void exact_accumulate(ExecContext&, Tensor&, const Tensor&) { no_cuda_backend("exact_accumulate"); }
void exact_value(ExecContext&, const Tensor&, Tensor&) { no_cuda_backend("exact_value"); }
void exact_accumulate_lower(ExecContext&, Tensor&, const Tensor&) { no_cuda_backend("exact_accumulate_lower"); }
void gram_exact_accumulate(ExecContext&, Tensor&, const Tensor&) { no_cuda_backend("gram_exact_accumulate"); }
void exact_value_symmetric(ExecContext&, const Tensor&, Tensor&) { no_cuda_backend("exact_value_symmetric"); }
void synthetic_normal(ExecContext&, Tensor&, uint64_t, float) { no_cuda_backend("synthetic_normal"); }
void column_stats(ExecContext&, Tensor&, Tensor&, const Tensor&) { no_cuda_backend("column_stats"); }
void select_rows(ExecContext&, const Tensor&, const Tensor&, Tensor&) { no_cuda_backend("select_rows"); }
void select_cols(ExecContext&, const Tensor&, const Tensor&, Tensor&) { no_cuda_backend("select_cols"); }
void select_diagonal_blocks(ExecContext&, const Tensor&, const Tensor&, Tensor&) {
  no_cuda_backend("select_diagonal_blocks");
}
void expand_rows(ExecContext&, const Tensor&, const Tensor&, Tensor&) { no_cuda_backend("expand_rows"); }
void expand_cols(ExecContext&, const Tensor&, const Tensor&, Tensor&) { no_cuda_backend("expand_cols"); }
void transpose(ExecContext&, const Tensor&, Tensor&) { no_cuda_backend("transpose"); }
void gemm(ExecContext&, Tensor&, const Tensor&, bool, const Tensor&, bool, double, double) { no_cuda_backend("gemm"); }
bool cholesky(ExecContext&, Tensor&, Tensor*) { no_cuda_backend("cholesky"); }
void cholesky_solve(ExecContext&, const Tensor&, const Tensor&, Tensor&) { no_cuda_backend("cholesky_solve"); }
void cholesky_inverse(ExecContext&, const Tensor&, Tensor&, int64_t) { no_cuda_backend("cholesky_inverse"); }
void divide_by(ExecContext&, Tensor&, const Tensor&) { no_cuda_backend("divide_by"); }
void sub_column_dots(ExecContext&, Tensor&, const Tensor&, const Tensor&) { no_cuda_backend("sub_column_dots"); }
void pick_cheapest(ExecContext&, const Tensor&, const Tensor&, Tensor&, Tensor&, Tensor&) {
  no_cuda_backend("pick_cheapest");
}
void group_columns(ExecContext&, const Tensor&, const Tensor&, const Tensor&, int64_t, Tensor&) {
  no_cuda_backend("group_columns");
}
void copy(ExecContext&, Tensor&, const Tensor&) { no_cuda_backend("copy"); }
void block_saliencies(ExecContext&, Tensor&, const Tensor&, int64_t, std::vector<double>&) {
  no_cuda_backend("block_saliencies");
}
void add_diagonal(ExecContext&, Tensor&, double) { no_cuda_backend("add_diagonal"); }
void add_scaled(ExecContext&, Tensor&, double, const Tensor&) { no_cuda_backend("add_scaled"); }
void diagonal(ExecContext&, const Tensor&, Tensor&) { no_cuda_backend("diagonal"); }

}  // namespace sp::cuda
