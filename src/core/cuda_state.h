#pragma once
// CUDA state behind an ExecContext. Included only by the device layer and src/kernels/cuda.
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cusolverDn.h>

#include <string>

#include "core/error.h"

namespace sp {

// Owns its handles and workspace (RAII): whatever was created is destroyed with it, so an
// ExecContext whose constructor fails half-way leaks nothing.
struct CudaState {
  int device = 0;
  cudaStream_t stream = nullptr;  // the device's shared work stream (device_stream), not owned
  cublasHandle_t cublas = nullptr;
  cusolverDnHandle_t cusolver = nullptr;
  void* workspace = nullptr;  // cuBLAS workspace
  size_t workspace_bytes = 0;

  CudaState() = default;
  ~CudaState();  // waits for the stream, then destroys the handles and frees the workspace
  CudaState(const CudaState&) = delete;
  CudaState& operator=(const CudaState&) = delete;
};

// One non-blocking stream per device, created on first use and shared by every ExecContext and by
// the allocator of that device: allocations are stream-ordered (cudaMallocAsync from a pool that
// keeps freed memory), so a free followed by an allocation on the same stream is safe and cheap.
cudaStream_t device_stream(int device);

[[noreturn]] void throw_cuda(const char* stmt, const char* file, int line, const std::string& msg);

}  // namespace sp

#define SP_CUDA_CHECK(stmt)                                                                     \
  do {                                                                                          \
    cudaError_t e_ = (stmt);                                                                    \
    if (e_ != cudaSuccess) ::sp::throw_cuda(#stmt, __FILE__, __LINE__, cudaGetErrorString(e_)); \
  } while (0)

#define SP_CUBLAS_CHECK(stmt)                                                                                \
  do {                                                                                                       \
    cublasStatus_t s_ = (stmt);                                                                              \
    if (s_ != CUBLAS_STATUS_SUCCESS) ::sp::throw_cuda(#stmt, __FILE__, __LINE__, cublasGetStatusString(s_)); \
  } while (0)

#define SP_CUSOLVER_CHECK(stmt)                                                                  \
  do {                                                                                           \
    cusolverStatus_t s_ = (stmt);                                                                \
    if (s_ != CUSOLVER_STATUS_SUCCESS)                                                           \
      ::sp::throw_cuda(#stmt, __FILE__, __LINE__, "cusolver status " + std::to_string(int(s_))); \
  } while (0)

// After a kernel launch: surfaces launch-configuration errors at the launch site.
#define SP_CUDA_CHECK_LAUNCH() SP_CUDA_CHECK(cudaGetLastError())
