// Front ends of the normalisations: RMSNorm (LLaMA family, Gemma) and LayerNorm (OPT).
#include "core/error.h"
#include "kernels/cpu/cpu_ops.h"
#include "kernels/cuda/cuda_ops.h"
#include "kernels/ops.h"
#include "kernels/ops_common.h"

namespace sp::ops {

using namespace detail;

namespace {

// An RMSNorm's operands: x [M, H] float, w [H] of x's dtype, eps >= 0.
void require_rms_norm(ExecContext& ctx, const Tensor& x, const Tensor& w, float eps, const char* op) {
  require_float(ctx, x, op, "x");
  require_ndim(x, 2, op, "x");
  require_on(ctx, w, op, "w");
  require_same_dtype(x, w, op, "x", "w");
  require_shape(w, {x.dim(1)}, op, "w");
  SP_REQUIRE(eps >= 0.f, "ops::{}: eps {} must be >= 0", op, eps);
}

}  // namespace

Tensor rms_norm(ExecContext& ctx, const Tensor& x, const Tensor& w, float eps, float w_offset) {
  require_rms_norm(ctx, x, w, eps, "rms_norm");
  Tensor y = Tensor::empty(x.shape(), x.dtype(), ctx.device());
  if (ctx.is_cuda()) {
    cuda::rms_norm(ctx, x, w, eps, w_offset, y);
  } else {
    cpu::rms_norm(x, w, eps, w_offset, y);
  }
  return y;
}

Tensor add_rms_norm_(ExecContext& ctx, Tensor& x, const Tensor& y, const Tensor& w, float eps, float w_offset) {
  require_rms_norm(ctx, x, w, eps, "add_rms_norm");
  require_on(ctx, y, "add_rms_norm", "y");
  require_same_dtype(x, y, "add_rms_norm", "x", "y");
  require_shape(y, x.shape(), "add_rms_norm", "y");
  Tensor out = Tensor::empty(x.shape(), x.dtype(), ctx.device());
  if (ctx.is_cuda()) {
    cuda::add_rms_norm(ctx, x, y, w, eps, w_offset, out);
  } else {
    cpu::add(x, y);
    cpu::rms_norm(x, w, eps, w_offset, out);
  }
  return out;
}

Tensor layer_norm(ExecContext& ctx, const Tensor& x, const Tensor& w, const Tensor& b, float eps) {
  require_float(ctx, x, "layer_norm", "x");
  require_ndim(x, 2, "layer_norm", "x");
  require_on(ctx, w, "layer_norm", "w");
  require_same_dtype(x, w, "layer_norm", "x", "w");
  require_shape(w, {x.dim(1)}, "layer_norm", "w");
  require_on(ctx, b, "layer_norm", "b");
  require_same_dtype(x, b, "layer_norm", "x", "b");
  require_shape(b, {x.dim(1)}, "layer_norm", "b");
  SP_REQUIRE(eps >= 0.f, "ops::layer_norm: eps {} must be >= 0", eps);
  Tensor y = Tensor::empty(x.shape(), x.dtype(), ctx.device());
  if (ctx.is_cuda()) {
    cuda::layer_norm(ctx, x, w, b, eps, y);
  } else {
    cpu::layer_norm(x, w, b, eps, y);
  }
  return y;
}

}  // namespace sp::ops
