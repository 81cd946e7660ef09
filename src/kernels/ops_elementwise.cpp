// Front ends of the elementwise ops: gated activations (SwiGLU, GeGLU), ReLU, scaling, soft-capping,
// residual add, dtype conversion.
#include "core/error.h"
#include "kernels/cpu/cpu_ops.h"
#include "kernels/cuda/cuda_ops.h"
#include "kernels/ops.h"
#include "kernels/ops_common.h"

namespace sp::ops {

using namespace detail;

Tensor gated_act(ExecContext& ctx, const Tensor& gate, const Tensor& up, GateAct act) {
  require_float(ctx, gate, "gated_act", "gate");
  require_float(ctx, up, "gated_act", "up");
  require_same_dtype(gate, up, "gated_act", "gate", "up");
  require_shape(up, gate.shape(), "gated_act", "up");
  Tensor out = Tensor::empty(gate.shape(), gate.dtype(), ctx.device());
  if (ctx.is_cuda()) {
    cuda::gated_act(ctx, gate, up, act, out);
  } else {
    cpu::gated_act(gate, up, act, out);
  }
  return out;
}

Tensor gated_act(ExecContext& ctx, const Tensor& gate_up, GateAct act) {
  require_float(ctx, gate_up, "gated_act", "gate_up");
  require_ndim(gate_up, 2, "gated_act", "gate_up");
  SP_REQUIRE(gate_up.dim(1) % 2 == 0, "ops::gated_act: gate_up {} is not [M, 2F]", gate_up.desc());
  Tensor out = Tensor::empty({gate_up.dim(0), gate_up.dim(1) / 2}, gate_up.dtype(), ctx.device());
  if (ctx.is_cuda()) {
    cuda::gated_act(ctx, gate_up, act, out);
  } else {
    cpu::gated_act(gate_up, act, out);
  }
  return out;
}

void scale_(ExecContext& ctx, Tensor& x, float s) {
  require_float(ctx, x, "scale", "x");
  // The factor in x's dtype, as torch's x * torch.tensor(s).to(x.dtype).
  if (x.dtype() == DType::BF16) s = bf16_to_f32(f32_to_bf16(s));
  if (x.dtype() == DType::F16) s = f16_to_f32(f32_to_f16(s));
  if (ctx.is_cuda()) {
    cuda::scale(ctx, x, s);
  } else {
    cpu::scale(x, s);
  }
}

void softcap_(ExecContext& ctx, Tensor& x, float cap) {
  require_float(ctx, x, "softcap", "x");
  SP_REQUIRE(cap > 0.f, "ops::softcap: cap {} must be > 0", cap);
  if (ctx.is_cuda()) {
    cuda::softcap(ctx, x, cap);
  } else {
    cpu::softcap(x, cap);
  }
}

void relu_(ExecContext& ctx, Tensor& x) {
  require_float(ctx, x, "relu", "x");
  if (ctx.is_cuda()) {
    cuda::relu(ctx, x);
  } else {
    cpu::relu(x);
  }
}

void add_(ExecContext& ctx, Tensor& x, const Tensor& y) {
  require_float(ctx, x, "add", "x");
  require_float(ctx, y, "add", "y");
  require_same_dtype(x, y, "add", "x", "y");
  require_shape(y, x.shape(), "add", "y");
  if (ctx.is_cuda()) {
    cuda::add(ctx, x, y);
  } else {
    cpu::add(x, y);
  }
}

Tensor convert(ExecContext& ctx, const Tensor& x, DType to) {
  require_on(ctx, x, "convert", "x");
  auto is_float = [](DType d) { return d == DType::F32 || d == DType::F64 || d == DType::BF16 || d == DType::F16; };
  SP_REQUIRE(is_float(x.dtype()) && is_float(to), "ops::convert: {} -> {}: only F32, F64, BF16 and F16 convert",
             x.desc(), dtype_name(to));
  Tensor out = Tensor::empty(x.shape(), to, ctx.device());
  if (x.dtype() == to) {
    out.copy_from(x);
  } else if (ctx.is_cuda()) {
    cuda::convert(ctx, x, out);
  } else {
    cpu::convert(x, out);
  }
  return out;
}

void synthetic_normal_(ExecContext& ctx, Tensor& out, uint64_t key, float stddev) {
  require_on(ctx, out, "synthetic_normal", "out");
  require_dtype(out, DType::F32, "synthetic_normal", "out");
  SP_REQUIRE(stddev > 0.f, "synthetic weights: stddev {} must be > 0", stddev);
  if (out.numel() == 0) return;
  if (ctx.is_cuda()) {
    cuda::synthetic_normal(ctx, out, key, stddev);
  } else {
    cpu::synthetic_normal(out, key, stddev);
  }
}

}  // namespace sp::ops
