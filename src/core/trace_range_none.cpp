#include "core/trace_range.h"

namespace sp {

TraceRange::TraceRange(const char*) {}
TraceRange::~TraceRange() = default;

}  // namespace sp
