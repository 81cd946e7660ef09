#pragma once
// Helpers of the model tests: the devices every test runs on (CPU always, CUDA when visible, so the
// same tests run on the GPU machine) and reading id lists from the reference JSON files.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>
#include <ostream>
#include <string>
#include <vector>

#include "core/device.h"
#include "test_util.h"

namespace sp::test {

inline std::vector<Device> model_test_devices() {
  std::vector<Device> d{Device::cpu()};
  if (gpu_count() > 0) d.push_back(Device::cuda(0));
  return d;
}

inline std::string device_param_name(const ::testing::TestParamInfo<Device>& p) {
  return p.param.is_cpu() ? "cpu" : "cuda" + std::to_string(p.param.index);
}

inline std::vector<int32_t> json_ids(const nlohmann::json& j) { return j.get<std::vector<int32_t>>(); }

inline double max_abs_diff(const std::vector<float>& a, const std::vector<double>& b) {
  double m = 0.0;
  for (size_t i = 0; i < std::min(a.size(), b.size()); ++i) m = std::max(m, std::abs(double(a[i]) - b[i]));
  return m;
}

}  // namespace sp::test

namespace sp {
// Readable test-parameter names in gtest / ctest output ("cpu", "cuda:0").
inline void PrintTo(const Device& d, std::ostream* os) { *os << d.str(); }
}  // namespace sp
