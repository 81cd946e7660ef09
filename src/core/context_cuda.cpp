// CUDA device layer: allocation, copies, and the per-context stream and library handles.
#include "core/context.h"
#include "core/cuda_state.h"
#include "core/device.h"

#include <fmt/format.h>

namespace sp {

void throw_cuda(const char* stmt, const char* file, int line, const std::string& msg) {
  throw RuntimeFailure(fmt::format("CUDA call failed: {} -> {} ({}:{})", stmt, msg, file, line));
}

bool built_with_cuda() { return true; }

int cuda_device_count() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();  // clear the sticky "no device" error
    return 0;
  }
  return n;
}

void* cuda_malloc_impl(int index, size_t bytes) {
  SP_CUDA_CHECK(cudaSetDevice(index));
  void* p = nullptr;
  const cudaError_t e = cudaMalloc(&p, bytes);
  if (e != cudaSuccess)
    throw RuntimeFailure(fmt::format("cudaMalloc of {:.1f} MiB on cuda:{} failed: {}", double(bytes) / 1048576.0,
                                     index, cudaGetErrorString(e)));
  return p;
}

void cuda_free_impl(int index, void* p) noexcept {
  cudaSetDevice(index);
  cudaFree(p);
}

void cuda_copy_impl(void* dst, Device dd, const void* src, Device sd, size_t bytes) {
  if (dd.is_cuda()) SP_CUDA_CHECK(cudaSetDevice(dd.index));
  else SP_CUDA_CHECK(cudaSetDevice(sd.index));
  // Synchronous: the legacy default stream orders it after the work already queued there;
  // kernels run on per-context streams, so callers synchronize their context first.
  SP_CUDA_CHECK(cudaDeviceSynchronize());
  SP_CUDA_CHECK(cudaMemcpy(dst, src, bytes, cudaMemcpyDefault));
}

void cuda_memset0_impl(int index, void* p, size_t bytes) {
  SP_CUDA_CHECK(cudaSetDevice(index));
  SP_CUDA_CHECK(cudaMemset(p, 0, bytes));
}

ExecContext::ExecContext(Device d) : device_(d) {
  if (d.is_cpu()) return;
  const int n = cuda_device_count();
  SP_REQUIRE(d.index < n, "device cuda:{} requested but {} CUDA device(s) are visible", d.index, n);
  cuda_ = new CudaState();
  cuda_->device = d.index;
  SP_CUDA_CHECK(cudaSetDevice(d.index));
  SP_CUDA_CHECK(cudaStreamCreateWithFlags(&cuda_->stream, cudaStreamNonBlocking));
  SP_CUBLAS_CHECK(cublasCreate(&cuda_->cublas));
  SP_CUBLAS_CHECK(cublasSetStream(cuda_->cublas, cuda_->stream));
  // Reference precision: never let cuBLAS switch fp32 products to TF32.
  SP_CUBLAS_CHECK(cublasSetMathMode(cuda_->cublas, CUBLAS_PEDANTIC_MATH));
  cuda_->workspace_bytes = size_t(32) << 20;
  SP_CUDA_CHECK(cudaMalloc(&cuda_->workspace, cuda_->workspace_bytes));
  SP_CUBLAS_CHECK(cublasSetWorkspace(cuda_->cublas, cuda_->workspace, cuda_->workspace_bytes));
  SP_CUSOLVER_CHECK(cusolverDnCreate(&cuda_->cusolver));
  SP_CUSOLVER_CHECK(cusolverDnSetStream(cuda_->cusolver, cuda_->stream));
}

ExecContext::~ExecContext() {
  if (!cuda_) return;
  cudaSetDevice(cuda_->device);
  cudaStreamSynchronize(cuda_->stream);
  if (cuda_->cusolver) cusolverDnDestroy(cuda_->cusolver);
  if (cuda_->cublas) cublasDestroy(cuda_->cublas);
  if (cuda_->workspace) cudaFree(cuda_->workspace);
  if (cuda_->stream) cudaStreamDestroy(cuda_->stream);
  delete cuda_;
}

void ExecContext::synchronize() {
  if (cuda_) SP_CUDA_CHECK(cudaStreamSynchronize(cuda_->stream));
}

CudaState& ExecContext::cuda() const {
  SP_CHECK(cuda_ != nullptr, "CUDA state requested on a {} context", device_.str());
  return *cuda_;
}

}  // namespace sp
