#pragma once
// Errors raised by the CUDA bodies, defined in a host .cpp (see errors.cpp for why).
#include <string>

#include "core/dtype.h"

namespace sp::cuda {

[[noreturn]] void fail_input(const std::string& msg);  // InputError
[[noreturn]] void fail_dtype(const char* op, DType t);  // InputError naming op and dtype
[[noreturn]] void fail_check(const char* what);         // RuntimeFailure (invariant)

}  // namespace sp::cuda
