#pragma once
// A named range around work a context issues. In a CUDA build an NVTX push / pop (free when no
// tool is attached), so an external kernel trace can charge kernels to it. With the environment
// variable STRUPRUNE_RANGE_SECONDS=1, also the time between its ends on the context: CUDA events on
// its stream (recorded without waiting; read when range_seconds() is asked), wall time on the CPU.
// Phases and the steps of the hot loops open one, so a prune can say where its device time goes
// without a profiler.
#include <cstdint>
#include <map>
#include <string>

#include "core/context.h"

namespace sp {

class TraceRange {
 public:
  TraceRange(ExecContext& ctx, const char* name);
  ~TraceRange();
  TraceRange(const TraceRange&) = delete;
  TraceRange& operator=(const TraceRange&) = delete;

 private:
  ExecContext& ctx_;
  const char* name_;
  void* start_ = nullptr;  // cudaEvent_t when timed on a GPU
  double t0_ = -1.0;       // wall time when timed on the CPU
};

struct RangeTotal {
  double seconds = 0.0;
  int64_t count = 0;
};
// Whether STRUPRUNE_RANGE_SECONDS=1 (read once).
bool range_seconds_on();
// Seconds and count per range name since the start (empty when off); waits for the device.
std::map<std::string, RangeTotal> range_seconds();

namespace detail {
void add_range_seconds(const char* name, double seconds);  // trace_range.cpp's registry
std::map<std::string, RangeTotal> range_totals();
}  // namespace detail

}  // namespace sp
