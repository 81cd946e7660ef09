#include <nvtx3/nvToolsExt.h>

#include "core/trace_range.h"

namespace sp {

TraceRange::TraceRange(const char* name) { nvtxRangePushA(name); }
TraceRange::~TraceRange() { nvtxRangePop(); }

}  // namespace sp
