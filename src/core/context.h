#pragma once
// Execution context: everything a kernel needs besides its operands, passed explicitly (never
// global): the device, and for CUDA the stream and the cuBLAS / cuSOLVER handles and workspace.
// The CUDA state is opaque here; kernels/cuda reads it through core/cuda_state.h.
#include <functional>
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

class ExecContext;

// Device work recorded once and replayed with the pointers and arguments it was recorded with (a
// CUDA graph): one launch instead of one per kernel, and no host work between them. Made by
// ExecContext::capture; CUDA only.
class CapturedWork {
 public:
  ~CapturedWork();
  CapturedWork(const CapturedWork&) = delete;
  CapturedWork& operator=(const CapturedWork&) = delete;
  // Enqueues the recorded work on the context's stream (asynchronous, like any op).
  void replay();

 private:
  friend class ExecContext;
  CapturedWork(ExecContext& ctx, void* graph, void* exec) : ctx_(ctx), graph_(graph), exec_(exec) {}
  ExecContext& ctx_;
  void* graph_;  // cudaGraph_t
  void* exec_;   // cudaGraphExec_t
};

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

  // Records the device work `work` enqueues on this context, without running it, for replay.
  // `work` must not wait for the device (no copy to the host, no synchronize()) and must free every
  // tensor it allocates before it returns (the recorded allocations are the graph's own); its
  // inputs and outputs are tensors that outlive the recording, read and written in place. CUDA only.
  std::unique_ptr<CapturedWork> capture(const std::function<void()>& work);
  // True while capture() records: ops skip host-side checks that would read device memory.
  bool capturing() const { return capturing_; }

 private:
  Device device_;
  // Owns the handles: a constructor step that throws releases what the earlier steps made.
  std::unique_ptr<CudaState, CudaStateDeleter> cuda_;
  bool capturing_ = false;
};

}  // namespace sp
