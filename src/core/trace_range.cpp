#include "core/trace_range.h"

#include <cstdlib>
#include <cstring>
#include <mutex>

namespace sp {
namespace {
std::mutex totals_mutex;
std::map<std::string, RangeTotal>& totals() {
  static std::map<std::string, RangeTotal> t;
  return t;
}
}  // namespace

bool range_seconds_on() {
  static const bool on = [] {
    const char* v = std::getenv("STRUPRUNE_RANGE_SECONDS");
    return v != nullptr && std::strcmp(v, "1") == 0;
  }();
  return on;
}

namespace detail {
void add_range_seconds(const char* name, double seconds) {
  const std::lock_guard<std::mutex> lock(totals_mutex);
  RangeTotal& t = totals()[name];
  t.seconds += seconds;
  ++t.count;
}
std::map<std::string, RangeTotal> range_totals() {
  const std::lock_guard<std::mutex> lock(totals_mutex);
  return totals();
}
}  // namespace detail

}  // namespace sp
