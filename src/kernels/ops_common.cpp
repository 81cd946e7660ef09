#include "kernels/ops_common.h"

#include "core/error.h"

namespace sp::ops::detail {

void require_on(const ExecContext& ctx, const Tensor& t, std::string_view op, std::string_view name) {
  SP_REQUIRE(t.defined(), "ops::{}: operand '{}' is undefined", op, name);
  SP_REQUIRE(t.device() == ctx.device(), "ops::{}: operand '{}' ({}) is not on the context's device {}", op, name,
             t.desc(), ctx.device().str());
}

void require_float(const ExecContext& ctx, const Tensor& t, std::string_view op, std::string_view name) {
  require_on(ctx, t, op, name);
  const DType d = t.dtype();
  if (ctx.device().is_cpu()) {
    SP_REQUIRE(d == DType::F32,
               "ops::{}: operand '{}' is {}; the CPU backend computes in F32 only (precision exact32); "
               "BF16 / F16 compute needs a CUDA device",
               op, name, t.desc());
  } else {
    SP_REQUIRE(d == DType::F32 || d == DType::BF16 || d == DType::F16,
               "ops::{}: operand '{}' is {}; expected F32, BF16 or F16", op, name, t.desc());
  }
}

void require_dtype(const Tensor& t, DType dt, std::string_view op, std::string_view name) {
  SP_REQUIRE(t.dtype() == dt, "ops::{}: operand '{}' is {}; expected {}", op, name, t.desc(), dtype_name(dt));
}

void require_same_dtype(const Tensor& a, const Tensor& b, std::string_view op, std::string_view na,
                        std::string_view nb) {
  SP_REQUIRE(a.dtype() == b.dtype(), "ops::{}: '{}' ({}) and '{}' ({}) must share one dtype", op, na, a.desc(), nb,
             b.desc());
}

void require_ids_below(const Tensor& ids, int64_t bound, std::string_view op, std::string_view what,
                       std::string_view range) {
  const Tensor host = ids.device().is_cpu() ? ids : ids.to(Device::cpu());
  const int32_t* p = host.data<int32_t>();
  for (int64_t i = 0; i < host.numel(); ++i)
    SP_REQUIRE(p[i] >= 0 && p[i] < bound, "ops::{}: {} {} at position {} is outside {} [0, {})", op, what, p[i], i,
               range, bound);
}

void require_shape(const Tensor& t, const Shape& s, std::string_view op, std::string_view name) {
  SP_REQUIRE(t.shape() == s, "ops::{}: operand '{}' has shape {}; expected {}", op, name, shape_str(t.shape()),
             shape_str(s));
}

void require_ndim(const Tensor& t, int nd, std::string_view op, std::string_view name) {
  SP_REQUIRE(t.ndim() == nd, "ops::{}: operand '{}' ({}) must be {}-d", op, name, t.desc(), nd);
}

void no_cuda_backend(std::string_view op) {
  throw_input("ops::{}: CUDA context, but this binary was built without the CUDA backend", op);
}

}  // namespace sp::ops::detail
