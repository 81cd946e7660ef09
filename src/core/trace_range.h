#pragma once
// A named range of host time for an external profiler: an NVTX push / pop in a CUDA build (free
// when no tool is attached), nothing in a CPU build. Phases and the steps of the hot loops open
// one, so a kernel trace (bench/cupti_trace) can charge each kernel to the phase that launched it.
namespace sp {

class TraceRange {
 public:
  explicit TraceRange(const char* name);
  ~TraceRange();
  TraceRange(const TraceRange&) = delete;
  TraceRange& operator=(const TraceRange&) = delete;
};

}  // namespace sp
