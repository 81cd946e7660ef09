#include "core/fail_point.h"

#include <fmt/format.h>

#include <cstdlib>
#include <string>

#include "core/error.h"

namespace sp {

void fail_point(int rank, const char* kind, int index) {
  static const char* const at = std::getenv("STRUPRUNE_TEST_FAIL_AT");
  static const char* const who = std::getenv("STRUPRUNE_TEST_FAIL_RANK");
  if (at == nullptr || who == nullptr || std::atoi(who) != rank) return;
  const std::string point = index < 0 ? std::string(kind) : fmt::format("{}:{}", kind, index);
  if (point == at)
    throw RuntimeFailure(fmt::format(
        "test failure injected on rank {} at {} (STRUPRUNE_TEST_FAIL_RANK / STRUPRUNE_TEST_FAIL_AT)", rank, point));
}

}  // namespace sp
