// Host-side error helpers for the .cu files, which keep fmt's compile-time format strings out of
// nvcc (nvcc rejects fmt 9's consteval format-string checks).
#include "kernels/cuda/errors.h"

#include "core/error.h"

namespace sp::cuda {

void fail_input(const std::string& msg) { throw InputError(msg); }

void fail_dtype(const char* op, DType t) {
  throw_input("{}: dtype {} is not supported on CUDA (F32, BF16, F16)", op, dtype_name(t));
}

void fail_check(const char* what) { throw RuntimeFailure(std::string("check failed: ") + what); }

}  // namespace sp::cuda
