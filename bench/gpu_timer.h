#pragma once
// GPU timing for the benchmarks: CUDA events on the context's stream (no CUDA types in this header).
#include <functional>
#include <string>

#include "core/context.h"

namespace sp::bench {

class GpuTimer {
 public:
  explicit GpuTimer(ExecContext& ctx);
  ~GpuTimer();
  GpuTimer(const GpuTimer&) = delete;
  GpuTimer& operator=(const GpuTimer&) = delete;

  // Median over `iters` timed runs of f (after `warmup` untimed runs), in milliseconds.
  double median_ms(const std::function<void()>& f, int warmup, int iters);
  // Same, with setup() run before each run outside the timed region.
  double median_ms_with_setup(const std::function<void()>& setup, const std::function<void()>& f, int warmup,
                              int iters);

 private:
  ExecContext& ctx_;
  void* start_ = nullptr;  // cudaEvent_t
  void* stop_ = nullptr;
};

// "NVIDIA H200 (132 SMs, 139.8 GiB)".
std::string device_name(int index);

}  // namespace sp::bench
