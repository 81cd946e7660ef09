// Front ends of the dense ops: embedding lookup and Linear.
#include "core/error.h"
#include "kernels/cpu/cpu_ops.h"
#include "kernels/cuda/cuda_ops.h"
#include "kernels/ops.h"
#include "kernels/ops_common.h"

namespace sp::ops {

using namespace detail;

Tensor embedding(ExecContext& ctx, const Tensor& table, const Tensor& ids) {
  require_float(ctx, table, "embedding", "table");
  require_ndim(table, 2, "embedding", "table");
  require_on(ctx, ids, "embedding", "ids");
  require_dtype(ids, DType::I32, "embedding", "ids");
  require_ndim(ids, 1, "embedding", "ids");
  // While a CUDA graph records, the ids are the recorded step's own (its argmax) and cannot be read
  // on the host; the CUDA body writes a NaN row for an id outside the table.
  if (!ctx.capturing()) require_ids_below(ids, table.dim(0), "embedding", "token id", "the vocabulary");
  Tensor out = Tensor::empty({ids.dim(0), table.dim(1)}, table.dtype(), ctx.device());
  if (ctx.is_cuda()) {
    cuda::embedding(ctx, table, ids, out);
  } else {
    cpu::embedding(table, ids, out);
  }
  return out;
}

Tensor linear(ExecContext& ctx, const Tensor& x, const Tensor& w, const Tensor& bias, Precision precision) {
  require_float(ctx, x, "linear", "x");
  require_float(ctx, w, "linear", "w");
  require_ndim(x, 2, "linear", "x");
  require_ndim(w, 2, "linear", "w");
  require_same_dtype(x, w, "linear", "x", "w");
  SP_REQUIRE(x.dim(1) == w.dim(1), "ops::linear: x {} and w {} disagree on in_features ({} vs {})", x.desc(), w.desc(),
             x.dim(1), w.dim(1));
  if (bias.defined()) {
    require_on(ctx, bias, "linear", "bias");
    require_same_dtype(x, bias, "linear", "x", "bias");
    require_shape(bias, {w.dim(0)}, "linear", "bias");
  }
  // The operands' dtype and the product's arithmetic must agree: no silent TF32 / down-cast.
  const DType want = precision == Precision::Exact32 ? DType::F32
                     : precision == Precision::BF16  ? DType::BF16
                                                     : DType::F16;
  SP_REQUIRE(x.dtype() == want, "ops::linear: precision {} needs {} operands, got x {}",
             precision == Precision::Exact32 ? "exact32" : dtype_name(want), dtype_name(want), x.desc());
  Tensor y = Tensor::empty({x.dim(0), w.dim(0)}, x.dtype(), ctx.device());
  if (ctx.is_cuda()) {
    cuda::linear(ctx, x, w, bias, precision, y);
  } else {
    cpu::linear(x, w, bias, y);
  }
  return y;
}

}  // namespace sp::ops
