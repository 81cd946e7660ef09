#pragma once
// The counter-based normal generator of synthetic weights, shared by the CPU and CUDA bodies of
// ops::synthetic_normal_: element i of a tensor depends only on (key, i), so a tensor is generated
// identically in any order, on any number of threads, on either device (up to the last bit of the
// devices' log / sin / cos in double, far below the float the value is rounded to).
#include <cmath>
#include <cstdint>

#if defined(__CUDACC__)
#define SP_SYNTH_HD __host__ __device__ __forceinline__
#else
#define SP_SYNTH_HD inline
#endif

namespace sp::synthetic {

SP_SYNTH_HD uint64_t splitmix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

// Uniform in (0, 1) from the top 53 bits.
SP_SYNTH_HD double unit(uint64_t r) { return (double(r >> 11) + 0.5) * 0x1.0p-53; }

// Elements i and i + 1 (i even) ~ normal(0, stddev): Box-Muller on two hashed uniforms.
SP_SYNTH_HD void normal_pair(uint64_t key, int64_t i, float stddev, float& a, float& b) {
  const uint64_t r1 = splitmix64(key + uint64_t(i)), r2 = splitmix64(r1 ^ 0x5851f42d4c957f2dull);
  const double rad = std::sqrt(-2.0 * std::log(unit(r1))) * stddev, ang = 6.283185307179586 * unit(r2);
  a = float(rad * std::cos(ang));
  b = float(rad * std::sin(ang));
}

}  // namespace sp::synthetic
