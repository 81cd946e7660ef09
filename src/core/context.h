#pragma once
// Execution context: everything a kernel needs besides its operands, passed explicitly (never
// global): the device, and for CUDA the stream and the cuBLAS / cuSOLVER handles and workspace.
// The CUDA state is opaque here; kernels/cuda reads it through core/cuda_state.h.
#include <memory>

#include "core/device.h"
#include "core/enum_names.h"

namespace sp {

struct CudaState;  // core/cuda_state.h (CUDA build only)
// Deletes a CudaState where its type is complete (context_cuda.cpp), so the header stays CUDA-free.
struct CudaStateDeleter {
  void operator()(CudaState* s) const noexcept;
};

// Compute precision of the matrix products: Exact32 = fp32 operands and accumulation, no TF32
// (the reference mode); BF16 / F16 = half operands, fp32 accumulation (the production mode).
enum class Precision { Exact32, BF16, F16 };
inline constexpr EnumName<Precision> kPrecisionNames[] = {
    {Precision::Exact32, "fp32"}, {Precision::BF16, "bf16"}, {Precision::F16, "fp16"}};
inline const char* to_string(Precision p) { return enum_name<Precision>(kPrecisionNames, p); }

class ExecContext {
 public:
  explicit ExecContext(Device d);
  ~ExecContext();
  ExecContext(const ExecContext&) = delete;
  ExecContext& operator=(const ExecContext&) = delete;

  Device device() const { return device_; }
  bool is_cuda() const { return device_.is_cuda(); }
  void synchronize();
  CudaState& cuda() const;  // only on a CUDA context

 private:
  Device device_;
  // Owns the handles: a constructor step that throws releases what the earlier steps made.
  std::unique_ptr<CudaState, CudaStateDeleter> cuda_;
};

}  // namespace sp
