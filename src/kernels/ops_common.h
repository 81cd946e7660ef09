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
// Every id of `ids` (I32, 1-D, on any device) lies in [0, bound). Ids come from tokenizers and
// files, so a bad one is the user's input; checking here, on the host (a CUDA tensor is copied
// back), makes both backends reject it alike instead of the CUDA kernels reading out of bounds.
// `what` names the id ("token id"), `range` the table ("the vocabulary").
void require_ids_below(const Tensor& ids, int64_t bound, std::string_view op, std::string_view what,
                       std::string_view range);
// A CUDA context in a binary built without the CUDA backend.
[[noreturn]] void no_cuda_backend(std::string_view op);

}  // namespace sp::ops::detail
