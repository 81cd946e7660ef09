#pragma once
// Time of the device work between start() and stop(), measured on the device: CUDA events on the
// context's stream, so timing a region inside a hot loop does not wait for it (the host keeps
// queueing); the events are read when the total is asked for. On the CPU, wall time.
#include <utility>
#include <vector>

#include "core/context.h"

namespace sp {

class DeviceTimer {
 public:
  explicit DeviceTimer(ExecContext& ctx) : ctx_(ctx) {}
  ~DeviceTimer();
  DeviceTimer(DeviceTimer&& o) noexcept
      : ctx_(o.ctx_), events_(std::move(o.events_)), recorded_(o.recorded_), total_(o.total_), t0_(o.t0_) {
    o.events_.clear();
    o.recorded_ = 0;
  }
  DeviceTimer(const DeviceTimer&) = delete;
  DeviceTimer& operator=(const DeviceTimer&) = delete;
  DeviceTimer& operator=(DeviceTimer&&) = delete;

  void start();
  void stop();
  // Adds wall seconds measured on the host (work that is not the device's, e.g. a collective).
  void add(double seconds) { total_ += seconds; }
  // The intervals' total so far, in seconds (on a GPU this waits for the last stop()).
  double seconds();

 private:
  ExecContext& ctx_;
  std::vector<void*> events_;  // cudaEvent_t, start / stop alternating, reused after each seconds()
  size_t recorded_ = 0;        // events recorded since the last seconds()
  double total_ = 0.0;
  double t0_ = 0.0;  // CPU: wall time of the open start()
};

}  // namespace sp
