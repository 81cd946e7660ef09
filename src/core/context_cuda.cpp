// CUDA device layer: allocation, copies, and the per-context library handles.
//
// Memory: every allocation of a device comes from its default memory pool through cudaMallocAsync
// on that device's one shared stream, with the pool's release threshold set to "never", so freed
// blocks are kept and reused: the engine allocates an output per op, and a cudaMalloc/cudaFree per
// op would synchronise the device each time. All kernels of the device run on the same stream, so
// the stream order alone makes reuse safe.
#include <fmt/format.h>

#include <array>
#include <cstdint>
#include <mutex>

#include "core/context.h"
#include "core/cuda_state.h"
#include "core/device.h"
#include "core/device_model.h"
#include "core/device_timer.h"
#include "core/log.h"

namespace sp {

void throw_cuda(const char* stmt, const char* file, int line, const std::string& msg) {
  throw RuntimeFailure(fmt::format("CUDA call failed: {} -> {} ({}:{})", stmt, msg, file, line));
}

bool built_with_cuda() { return true; }

std::string device_model(Device d) {
  if (d.is_cpu()) return "cpu";
  cudaDeviceProp p{};
  SP_CUDA_CHECK(cudaGetDeviceProperties(&p, d.index));
  return p.name;
}

int cuda_device_count() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();  // clear the sticky "no device" error
    return 0;
  }
  return n;
}

namespace {

constexpr int kMaxDevices = 64;

struct DeviceSlot {
  std::once_flag once;
  cudaStream_t stream = nullptr;
  bool pooled = false;  // cudaMallocAsync available (memory pools supported)
};
std::array<DeviceSlot, kMaxDevices> g_slots;

DeviceSlot& slot(int index) {
  SP_CHECK(index >= 0 && index < kMaxDevices, "CUDA device index {} out of range", index);
  DeviceSlot& s = g_slots[size_t(index)];
  std::call_once(s.once, [&] {
    SP_CUDA_CHECK(cudaSetDevice(index));
    // Streams are deliberately never destroyed: they live as long as the process (tensors freed
    // during static destruction still enqueue their frees on them).
    SP_CUDA_CHECK(cudaStreamCreateWithFlags(&s.stream, cudaStreamNonBlocking));
    int pools = 0;
    SP_CUDA_CHECK(cudaDeviceGetAttribute(&pools, cudaDevAttrMemoryPoolsSupported, index));
    if (pools) {
      cudaMemPool_t pool;
      SP_CUDA_CHECK(cudaDeviceGetDefaultMemPool(&pool, index));
      uint64_t keep_all = UINT64_MAX;
      SP_CUDA_CHECK(cudaMemPoolSetAttribute(pool, cudaMemPoolAttrReleaseThreshold, &keep_all));
      s.pooled = true;
    }
  });
  return s;
}

}  // namespace

cudaStream_t device_stream(int device) { return slot(device).stream; }

void* cuda_malloc_impl(int index, size_t bytes) {
  DeviceSlot& s = slot(index);
  SP_CUDA_CHECK(cudaSetDevice(index));
  void* p = nullptr;
  const cudaError_t e = s.pooled ? cudaMallocAsync(&p, bytes, s.stream) : cudaMalloc(&p, bytes);
  if (e != cudaSuccess) {
    cudaGetLastError();
    size_t free_b = 0, total_b = 0;
    cudaMemGetInfo(&free_b, &total_b);
    throw RuntimeFailure(fmt::format("allocation of {:.1f} MiB on cuda:{} failed: {} ({:.1f} of {:.1f} MiB free)",
                                     double(bytes) / 1048576.0, index, cudaGetErrorString(e),
                                     double(free_b) / 1048576.0, double(total_b) / 1048576.0));
  }
  return p;
}

void cuda_free_impl(int index, void* p) noexcept {
  DeviceSlot& s = g_slots[size_t(index)];
  cudaSetDevice(index);
  if (s.pooled)
    cudaFreeAsync(p, s.stream);  // back to the pool, in stream order
  else
    cudaFree(p);
}

void cuda_copy_impl(void* dst, Device dd, const void* src, Device sd, size_t bytes) {
  const int index = dd.is_cuda() ? dd.index : sd.index;
  const cudaStream_t stream = device_stream(index);
  SP_CUDA_CHECK(cudaSetDevice(index));
  // Queued behind the device's work on its stream. A copy within one device is stream-ordered like
  // a kernel (no wait: decode steps copy ids and cache rows without a host round trip), and so is
  // one from pageable host memory, which CUDA stages before it returns (the caller may free it at
  // once; the OBS greedy uploads indices every step). Any other copy that involves the host or
  // another device is waited for, so the caller may use its memory at once.
  SP_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDefault, stream));
  if (dd.is_cuda() && sd.is_cuda() && dd.index == sd.index) return;
  if (dd.is_cuda() && sd.is_cpu()) {
    cudaPointerAttributes a{};
    if (cudaPointerGetAttributes(&a, src) == cudaSuccess && a.type == cudaMemoryTypeUnregistered) return;
    cudaGetLastError();  // a failed query is not an error of the copy
  }
  SP_CUDA_CHECK(cudaStreamSynchronize(stream));
}

void cuda_memset0_impl(int index, void* p, size_t bytes) {
  const cudaStream_t stream = device_stream(index);
  SP_CUDA_CHECK(cudaSetDevice(index));
  SP_CUDA_CHECK(cudaMemsetAsync(p, 0, bytes, stream));
}

void* cuda_host_alloc_impl(size_t bytes) noexcept {
  void* p = nullptr;
  if (cudaHostAlloc(&p, bytes, cudaHostAllocPortable) != cudaSuccess) {
    cudaGetLastError();
    return nullptr;
  }
  return p;
}

void cuda_host_free_impl(void* p) noexcept { cudaFreeHost(p); }

CudaState::~CudaState() {
  cudaSetDevice(device);
  if (stream) cudaStreamSynchronize(stream);
  if (cusolver) cusolverDnDestroy(cusolver);
  if (cublas) cublasDestroy(cublas);
  if (workspace) cudaFree(workspace);
}

void CudaStateDeleter::operator()(CudaState* s) const noexcept { delete s; }

ExecContext::ExecContext(Device d) : device_(d) {
  if (d.is_cpu()) return;
  const int n = cuda_device_count();
  SP_REQUIRE(d.index < n, "device cuda:{} requested but {} CUDA device(s) are visible", d.index, n);
  // Each step stores what it creates in cuda_ at once: if a later one throws, cuda_'s destructor
  // (a fully built member) releases the earlier ones.
  cuda_.reset(new CudaState());
  cuda_->device = d.index;
  SP_CUDA_CHECK(cudaSetDevice(d.index));
  cuda_->stream = device_stream(d.index);
  SP_CUBLAS_CHECK(cublasCreate(&cuda_->cublas));
  SP_CUBLAS_CHECK(cublasSetStream(cuda_->cublas, cuda_->stream));
  // Exact32 products ask for CUBLAS_COMPUTE_32F_PEDANTIC per call (never TF32, whatever
  // NVIDIA_TF32_OVERRIDE says); the handle keeps the default math so bf16/f16 use tensor cores.
  SP_CUBLAS_CHECK(cublasSetMathMode(cuda_->cublas, CUBLAS_DEFAULT_MATH));
  cuda_->workspace_bytes = size_t(32) << 20;
  SP_CUDA_CHECK(cudaMalloc(&cuda_->workspace, cuda_->workspace_bytes));
  SP_CUBLAS_CHECK(cublasSetWorkspace(cuda_->cublas, cuda_->workspace, cuda_->workspace_bytes));
  SP_CUSOLVER_CHECK(cusolverDnCreate(&cuda_->cusolver));
  SP_CUSOLVER_CHECK(cusolverDnSetStream(cuda_->cusolver, cuda_->stream));
}

ExecContext::~ExecContext() = default;

void ExecContext::synchronize() {
  if (cuda_) SP_CUDA_CHECK(cudaStreamSynchronize(cuda_->stream));
}

CudaState& ExecContext::cuda() const {
  SP_CHECK(cuda_ != nullptr, "CUDA state requested on a {} context", device_.str());
  return *cuda_;
}

std::unique_ptr<CapturedWork> ExecContext::capture(const std::function<void()>& work) {
  CudaState& cs = cuda();
  SP_CUDA_CHECK(cudaSetDevice(cs.device));
  // Relaxed: the allocator's cudaMallocAsync / cudaFreeAsync on this stream are recorded as the
  // graph's own memory nodes; other threads' unrelated CUDA calls are not refused meanwhile.
  SP_CUDA_CHECK(cudaStreamBeginCapture(cs.stream, cudaStreamCaptureModeRelaxed));
  capturing_ = true;
  cudaGraph_t graph = nullptr;
  try {
    work();
  } catch (...) {
    capturing_ = false;
    cudaStreamEndCapture(cs.stream, &graph);  // ends the (invalidated) capture; the error is work()'s
    if (graph) cudaGraphDestroy(graph);
    cudaGetLastError();
    throw;
  }
  capturing_ = false;
  SP_CUDA_CHECK(cudaStreamEndCapture(cs.stream, &graph));
  cudaGraphExec_t exec = nullptr;
  const cudaError_t e = cudaGraphInstantiate(&exec, graph, 0);
  if (e != cudaSuccess) {
    cudaGraphDestroy(graph);
    throw_cuda("cudaGraphInstantiate", __FILE__, __LINE__, cudaGetErrorString(e));
  }
  return std::unique_ptr<CapturedWork>(new CapturedWork(*this, graph, exec));
}

CapturedWork::~CapturedWork() {
  // A replay may still run: the graph's memory and nodes are released once it is done.
  cudaStreamSynchronize(ctx_.cuda().stream);
  cudaGraphExecDestroy(static_cast<cudaGraphExec_t>(exec_));
  cudaGraphDestroy(static_cast<cudaGraph_t>(graph_));
}

void CapturedWork::replay() { SP_CUDA_CHECK(cudaGraphLaunch(static_cast<cudaGraphExec_t>(exec_), ctx_.cuda().stream)); }

DeviceTimer::~DeviceTimer() {
  for (void* e : events_) cudaEventDestroy(static_cast<cudaEvent_t>(e));
}

void DeviceTimer::start() {
  if (!ctx_.is_cuda()) {
    t0_ = wall_seconds();
    return;
  }
  if (recorded_ + 2 > events_.size())
    for (int i = 0; i < 2; ++i) {
      cudaEvent_t e = nullptr;
      SP_CUDA_CHECK(cudaEventCreate(&e));
      events_.push_back(e);
    }
  SP_CUDA_CHECK(cudaEventRecord(static_cast<cudaEvent_t>(events_[recorded_++]), ctx_.cuda().stream));
}

void DeviceTimer::stop() {
  if (!ctx_.is_cuda()) {
    total_ += wall_seconds() - t0_;
    return;
  }
  SP_CHECK(recorded_ % 2 == 1, "DeviceTimer::stop without start");
  SP_CUDA_CHECK(cudaEventRecord(static_cast<cudaEvent_t>(events_[recorded_++]), ctx_.cuda().stream));
}

double DeviceTimer::seconds() {
  if (recorded_ >= 2) {
    SP_CUDA_CHECK(cudaEventSynchronize(static_cast<cudaEvent_t>(events_[recorded_ - 1])));
    for (size_t i = 0; i + 1 < recorded_; i += 2) {
      float ms = 0.f;
      SP_CUDA_CHECK(
          cudaEventElapsedTime(&ms, static_cast<cudaEvent_t>(events_[i]), static_cast<cudaEvent_t>(events_[i + 1])));
      total_ += double(ms) * 1e-3;
    }
    recorded_ = 0;
  }
  return total_;
}

}  // namespace sp
