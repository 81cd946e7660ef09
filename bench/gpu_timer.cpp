#include "bench/gpu_timer.h"

#include <fmt/format.h>

#include <algorithm>
#include <vector>

#include "core/cuda_state.h"

namespace sp::bench {

GpuTimer::GpuTimer(ExecContext& ctx) : ctx_(ctx) {
  cudaEvent_t a, b;
  SP_CUDA_CHECK(cudaEventCreate(&a));
  SP_CUDA_CHECK(cudaEventCreate(&b));
  start_ = a;
  stop_ = b;
}

GpuTimer::~GpuTimer() {
  cudaEventDestroy(static_cast<cudaEvent_t>(start_));
  cudaEventDestroy(static_cast<cudaEvent_t>(stop_));
}

double GpuTimer::median_ms(const std::function<void()>& f, int warmup, int iters) {
  return median_ms_with_setup([] {}, f, warmup, iters);
}

double GpuTimer::median_ms_with_setup(const std::function<void()>& setup, const std::function<void()>& f, int warmup,
                                      int iters) {
  const cudaStream_t s = ctx_.cuda().stream;
  auto a = static_cast<cudaEvent_t>(start_), b = static_cast<cudaEvent_t>(stop_);
  for (int i = 0; i < warmup; ++i) {
    setup();
    f();
  }
  std::vector<float> ms;
  for (int i = 0; i < iters; ++i) {
    setup();
    SP_CUDA_CHECK(cudaEventRecord(a, s));
    f();
    SP_CUDA_CHECK(cudaEventRecord(b, s));
    SP_CUDA_CHECK(cudaEventSynchronize(b));
    float t = 0.f;
    SP_CUDA_CHECK(cudaEventElapsedTime(&t, a, b));
    ms.push_back(t);
  }
  std::sort(ms.begin(), ms.end());
  return ms.empty() ? 0.0 : double(ms[ms.size() / 2]);
}

std::string device_name(int index) {
  cudaDeviceProp p{};
  SP_CUDA_CHECK(cudaGetDeviceProperties(&p, index));
  return fmt::format("{} ({} SMs, {:.1f} GiB, L2 {} MiB)", p.name, p.multiProcessorCount,
                     double(p.totalGlobalMem) / double(1 << 30), p.l2CacheSize >> 20);
}

}  // namespace sp::bench
