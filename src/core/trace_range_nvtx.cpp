#include <cuda_runtime.h>
#include <nvtx3/nvToolsExt.h>

#include <deque>
#include <mutex>
#include <string>
#include <vector>

#include "core/cuda_state.h"
#include "core/log.h"
#include "core/trace_range.h"

namespace sp {
namespace {

// Ranges whose end events may not have happened yet; drained into the totals in order.
struct Pending {
  std::string name;  // a copy: a phase's name may not outlive its range
  cudaEvent_t start, end;
};
std::mutex events_mutex;
std::vector<cudaEvent_t> free_events;
std::deque<Pending> pending;

cudaEvent_t take_event() {  // under events_mutex
  if (free_events.empty()) {
    cudaEvent_t e = nullptr;
    if (cudaEventCreate(&e) != cudaSuccess) return nullptr;
    return e;
  }
  cudaEvent_t e = free_events.back();
  free_events.pop_back();
  return e;
}

// Moves finished ranges into the totals; `wait`: every range, waiting for the device.
void drain(bool wait) {  // under events_mutex
  while (!pending.empty()) {
    const Pending p = pending.front();
    if (!wait && cudaEventQuery(p.end) != cudaSuccess) return;
    float ms = 0.f;
    if (cudaEventSynchronize(p.end) == cudaSuccess && cudaEventElapsedTime(&ms, p.start, p.end) == cudaSuccess)
      detail::add_range_seconds(p.name.c_str(), double(ms) * 1e-3);
    free_events.push_back(p.start);
    free_events.push_back(p.end);
    pending.pop_front();
  }
}

}  // namespace

TraceRange::TraceRange(ExecContext& ctx, const char* name) : ctx_(ctx), name_(name) {
  nvtxRangePushA(name);
  if (!range_seconds_on() || ctx.capturing()) return;
  if (!ctx.is_cuda()) {
    t0_ = wall_seconds();
    return;
  }
  const std::lock_guard<std::mutex> lock(events_mutex);
  start_ = take_event();
  if (start_ != nullptr && cudaEventRecord(static_cast<cudaEvent_t>(start_), ctx.cuda().stream) != cudaSuccess) {
    free_events.push_back(static_cast<cudaEvent_t>(start_));
    start_ = nullptr;
  }
}

TraceRange::~TraceRange() {
  if (t0_ >= 0) detail::add_range_seconds(name_, wall_seconds() - t0_);
  if (start_ != nullptr) {  // errors here only lose this range's time: a destructor does not throw
    const std::lock_guard<std::mutex> lock(events_mutex);
    cudaEvent_t end = take_event();
    if (end != nullptr && cudaEventRecord(end, ctx_.cuda().stream) == cudaSuccess)
      pending.push_back({name_, static_cast<cudaEvent_t>(start_), end});
    else
      free_events.push_back(static_cast<cudaEvent_t>(start_));
    if (pending.size() >= 4096) drain(false);
  }
  nvtxRangePop();
}

std::map<std::string, RangeTotal> range_seconds() {
  {
    const std::lock_guard<std::mutex> lock(events_mutex);
    drain(true);
  }
  return detail::range_totals();
}

}  // namespace sp
