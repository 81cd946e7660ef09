#pragma once
// Shared by the GPU-vs-CPU op tests (test_ops_gpu, test_linalg_gpu).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
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
