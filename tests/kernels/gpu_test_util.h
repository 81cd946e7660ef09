#pragma once
// Shared by the GPU-vs-CPU op tests (test_ops_gpu, test_linalg_gpu).
#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace sp::test {

// Device tensor whose every byte is 0xFF: NaN in every float dtype, -1 in I32.
inline Tensor poisoned(const Shape& shape, DType dt) {
  Tensor h = Tensor::empty(shape, dt);
  std::memset(h.raw(), 0xFF, h.nbytes());
  return h.to(Device::cuda(0));
}

inline Tensor ids_on_device(const std::vector<int32_t>& ids) {
  return Tensor::from_i32(ids, {int64_t(ids.size())}).to(Device::cuda(0));
}

// A fixed seed, so a failure replays as it is; STRUPRUNE_TEST_SEED=<n> picks another (a failing
// test prints the one it used), STRUPRUNE_TEST_SEED=random a fresh one per run.
inline uint32_t test_seed() {
  constexpr uint32_t kDefaultSeed = 20240531;
  const char* e = std::getenv("STRUPRUNE_TEST_SEED");
  if (!e || !*e) return kDefaultSeed;
  if (std::string(e) == "random") return std::random_device{}();
  return uint32_t(std::stoul(e));
}

// The element-wise bound is this many times the relative L2 tolerance: loose enough for rounding
// noise, tight enough that a single garbage element fails.
constexpr double kElementwiseFactor = 10.0;

// Element-wise bound beside the relative L2 error, which one wrong element among many barely
// moves: |gpu_i - cpu_i| <= tol * (|cpu_i| + rms(cpu)). The worst element is reported.
inline void expect_elementwise_close(const Tensor& gpu, const Tensor& cpu, double tol, const std::string& what) {
  const std::vector<double> g = gpu.to_f64_vector(), c = cpu.to_f64_vector();
  ASSERT_EQ(g.size(), c.size()) << what;
  double sq = 0.0;
  for (double v : c) sq += std::isfinite(v) ? v * v : 0.0;
  const double rms = c.empty() ? 0.0 : std::sqrt(sq / double(c.size()));
  size_t worst = 0;
  double worst_ratio = 0.0;
  for (size_t i = 0; i < c.size(); ++i) {
    if (!std::isfinite(c[i])) continue;
    const double bound = tol * (std::fabs(c[i]) + rms);
    const double err = std::fabs(g[i] - c[i]);
    const double ratio = bound > 0 ? err / bound : (err > 0 ? INFINITY : 0.0);
    if (!(ratio <= worst_ratio)) worst_ratio = ratio, worst = i;
  }
  EXPECT_LE(worst_ratio, 1.0) << what << ": element " << worst << " is " << (c.empty() ? 0.0 : g[worst])
                              << ", the CPU says " << (c.empty() ? 0.0 : c[worst]) << " (bound " << tol
                              << " x (|cpu| + rms " << rms << "))";
}

// Relative L2 distance of the GPU result from the CPU result. Every element must be finite where
// the oracle is (asserted), so poisoned, unwritten outputs fail; the distance is also recorded.
inline double checked_relative_l2(const Tensor& gpu, const Tensor& cpu, const std::string& what) {
  const std::vector<double> g = gpu.to_f64_vector(), c = cpu.to_f64_vector();
  EXPECT_EQ(g.size(), c.size()) << what;
  double num = 0.0, den = 0.0;
  for (size_t i = 0; i < std::min(g.size(), c.size()); ++i) {
    if (std::isfinite(c[i]) && !std::isfinite(g[i])) {
      ADD_FAILURE() << what << ": element " << i << " not written / not finite";
      return INFINITY;
    }
    num += (g[i] - c[i]) * (g[i] - c[i]);
    den += c[i] * c[i];
  }
  const double rel = std::sqrt(num / std::max(den, 1e-300));
  ::testing::Test::RecordProperty(what, std::to_string(rel));
  return rel;
}

}  // namespace sp::test
