// Front ends of the output-side ops: per-token NLL, KL divergence between two predictions, argmax.
#include "core/error.h"
#include "kernels/cpu/cpu_ops.h"
#include "kernels/cuda/cuda_ops.h"
#include "kernels/ops.h"
#include "kernels/ops_common.h"

namespace sp::ops {

using namespace detail;

Tensor token_nll(ExecContext& ctx, const Tensor& logits, const Tensor& targets) {
  require_float(ctx, logits, "token_nll", "logits");
  require_ndim(logits, 2, "token_nll", "logits");
  require_on(ctx, targets, "token_nll", "targets");
  require_dtype(targets, DType::I32, "token_nll", "targets");
  require_shape(targets, {logits.dim(0)}, "token_nll", "targets");
  SP_REQUIRE(logits.dim(1) > 0, "ops::token_nll: logits {} have no columns", logits.desc());
  require_ids_below(targets, logits.dim(1), "token_nll", "target", "the logits' columns");
  Tensor out = Tensor::empty({logits.dim(0)}, DType::F32, ctx.device());
  if (ctx.is_cuda()) {
    cuda::token_nll(ctx, logits, targets, out);
  } else {
    cpu::token_nll(logits, targets, out);
  }
  return out;
}

Tensor kl_div_rows(ExecContext& ctx, const Tensor& p, const Tensor& q) {
  require_float(ctx, p, "kl_div_rows", "p");
  require_float(ctx, q, "kl_div_rows", "q");
  require_ndim(p, 2, "kl_div_rows", "p");
  require_same_dtype(p, q, "kl_div_rows", "p", "q");
  require_shape(q, p.shape(), "kl_div_rows", "q");
  SP_REQUIRE(p.dim(1) > 0, "ops::kl_div_rows: logits {} have no columns", p.desc());
  Tensor out = Tensor::empty({p.dim(0)}, DType::F32, ctx.device());
  if (ctx.is_cuda()) {
    cuda::kl_div_rows(ctx, p, q, out);
  } else {
    cpu::kl_div_rows(p, q, out);
  }
  return out;
}

Tensor argmax_rows(ExecContext& ctx, const Tensor& logits) {
  require_float(ctx, logits, "argmax_rows", "logits");
  require_ndim(logits, 2, "argmax_rows", "logits");
  SP_REQUIRE(logits.dim(1) > 0, "ops::argmax_rows: logits {} have no columns", logits.desc());
  Tensor out = Tensor::empty({logits.dim(0)}, DType::I32, ctx.device());
  if (ctx.is_cuda()) {
    cuda::argmax_rows(ctx, logits, out);
  } else {
    cpu::argmax_rows(logits, out);
  }
  return out;
}

}  // namespace sp::ops
