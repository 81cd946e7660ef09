#pragma once
// Checks shared by the op front ends (kernels/ops_*.cpp). Every failure is an InputError naming
// the op, the operand and what was expected, so a wrong call is explained, not crashed on.
#include <string_view>

#include "core/context.h"
#include "core/tensor.h"

namespace sp::ops::detail {

// The operand is defined and lives on the context's device.
void require_on(const ExecContext& ctx, const Tensor& t, std::string_view op, std::string_view name);
// The operand is a compute-dtype float: F32 on any device; BF16 / F16 only on CUDA.
void require_float(const ExecContext& ctx, const Tensor& t, std::string_view op, std::string_view name);
void require_dtype(const Tensor& t, DType dt, std::string_view op, std::string_view name);
void require_same_dtype(const Tensor& a, const Tensor& b, std::string_view op, std::string_view na,
                        std::string_view nb);
void require_shape(const Tensor& t, const Shape& s, std::string_view op, std::string_view name);
void require_ndim(const Tensor& t, int nd, std::string_view op, std::string_view name);
// A CUDA context in a binary built without the CUDA backend.
[[noreturn]] void no_cuda_backend(std::string_view op);

}  // namespace sp::ops::detail
