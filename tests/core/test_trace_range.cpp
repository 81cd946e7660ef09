// TraceRange's own clock (STRUPRUNE_RANGE_SECONDS=1): each name's total and count, nested ranges
// each charged their own time. ctest runs every test in its own process, so the variable set here
// is the one the first range_seconds_on() reads.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <thread>

#include "core/context.h"
#include "core/trace_range.h"

namespace sp {
namespace {

TEST(TraceRange, TimesEveryNamedRangeAndNestsThem) {
  ::setenv("STRUPRUNE_RANGE_SECONDS", "1", 1);
  ASSERT_TRUE(range_seconds_on());
  ExecContext ctx(Device::cpu());
  {
    const TraceRange outer(ctx, "test.outer");
    for (int i = 0; i < 2; ++i) {
      const TraceRange inner(ctx, "test.inner");
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
  const auto t = range_seconds();
  ASSERT_EQ(t.count("test.inner"), 1u);
  ASSERT_EQ(t.count("test.outer"), 1u);
  EXPECT_EQ(t.at("test.inner").count, 2);
  EXPECT_EQ(t.at("test.outer").count, 1);
  EXPECT_GE(t.at("test.inner").seconds, 0.04);
  EXPECT_LT(t.at("test.inner").seconds, 5.0);
  EXPECT_GE(t.at("test.outer").seconds, t.at("test.inner").seconds);
}

}  // namespace
}  // namespace sp
