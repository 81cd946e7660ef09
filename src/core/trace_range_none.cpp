#include "core/log.h"
#include "core/trace_range.h"

namespace sp {

TraceRange::TraceRange(ExecContext& ctx, const char* name) : ctx_(ctx), name_(name) {
  if (range_seconds_on()) t0_ = wall_seconds();
}
TraceRange::~TraceRange() {
  if (t0_ >= 0) detail::add_range_seconds(name_, wall_seconds() - t0_);
}

std::map<std::string, RangeTotal> range_seconds() { return detail::range_totals(); }

}  // namespace sp
