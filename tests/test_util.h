#pragma once
// Helpers shared by the tests: where the shared models/data are, and skips with a reason.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <utility>

#include "core/error.h"

namespace sp::test {

// $STRUPRUNE_SHARED_DIR, else the `shared` folder beside the checkout.
std::string shared_dir();
// shared_dir() + "/" + rel, or "" when it does not exist (callers skip).
std::string shared_path(const std::string& rel);
std::string source_dir();  // the repository root
nlohmann::json read_json(const std::string& path);
int gpu_count();

// The message of the E that `f` throws, or a marker when it throws none (so a test can assert on the
// file / field the message names).
template <typename E, typename F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const E& e) {
    return e.what();
  }
  return "<no such error thrown>";
}
template <typename F>
std::string input_error(F&& f) {
  return error_of<InputError>(std::forward<F>(f));
}

}  // namespace sp::test

// Skips the test (with the path in the message) when a shared file is missing.
#define SP_REQUIRE_SHARED(var, rel)                                                          \
  const std::string var = ::sp::test::shared_path(rel);                                      \
  if (var.empty())                                                                           \
  GTEST_SKIP() << "shared test data not found: " << ::sp::test::shared_dir() << "/" << (rel) \
               << " (set STRUPRUNE_SHARED_DIR)"

#define SP_REQUIRE_GPU() \
  if (::sp::test::gpu_count() == 0) GTEST_SKIP() << "no CUDA GPU visible (or CPU-only build)"
