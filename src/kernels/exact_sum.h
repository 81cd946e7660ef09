#pragma once
// Exact (order-independent) summation of F64 values, shared by the CPU and CUDA bodies.
//
// A value v is split into three integer limbs, v = l2 * 2^20 + l1 * 2^-20 + l0 * 2^-60, each in
// (-2^40, 2^40) when |v| < 2^59 (the split is exact; only bits below 2^-60 round). Sums of limbs
// are integer sums: associative, so any grouping (one rank or many, any reduction tree, NCCL or
// MPI) gives the same bits. 2^22 additions fit an int64 limb; the value is read back after one
// carry normalisation. Statistics use it so that masks do not depend on the number of ranks.
#include <cmath>
#include <cstdint>

#if defined(__CUDACC__)
#define SP_EXACT_HD __host__ __device__ __forceinline__
#else
#define SP_EXACT_HD inline
#endif

namespace sp::exact {

constexpr int kLimbs = 3;
constexpr double kMaxAbs = 576460752303423488.0;  // 2^59: larger magnitudes are counted as bad

// Returns false (limbs untouched) for a non-finite value or |v| >= 2^59.
SP_EXACT_HD bool split(double v, int64_t limbs[kLimbs]) {
  if (!(std::fabs(v) < kMaxAbs)) return false;
  const double hi = std::trunc(std::ldexp(v, -20));
  const double r1 = v - std::ldexp(hi, 20);  // exact: |r1| < 2^20 and a multiple of ulp(v)
  const double mid = std::trunc(std::ldexp(r1, 20));
  const double r0 = r1 - std::ldexp(mid, -20);  // exact, |r0| < 2^-20
  limbs[0] = int64_t(std::rint(std::ldexp(r0, 60)));
  limbs[1] = int64_t(mid);
  limbs[2] = int64_t(hi);
  return true;
}

// Adds v at index p of an accumulator of `count` values (limb k of value p at acc[k * count + p]).
// Returns false (nothing added) where split() refuses v: the caller counts it at acc[kLimbs * count].
SP_EXACT_HD bool add(int64_t* acc, int64_t count, int64_t p, double v) {
  int64_t l[kLimbs];
  if (!split(v, l)) return false;
  for (int k = 0; k < kLimbs; ++k) acc[k * count + p] += l[k];
  return true;
}

SP_EXACT_HD int64_t floor_div_limb(int64_t v) {
  constexpr int64_t base = int64_t(1) << 40;
  return v >= 0 ? v / base : -((-v + base - 1) / base);
}

// Carries so that l0, l1 are in [0, 2^40).
SP_EXACT_HD void normalise(int64_t& l0, int64_t& l1, int64_t& l2) {
  int64_t c = floor_div_limb(l0);
  l0 -= c * (int64_t(1) << 40);
  l1 += c;
  c = floor_div_limb(l1);
  l1 -= c * (int64_t(1) << 40);
  l2 += c;
}

// The value of summed limbs, rounded about once (a function of the integers alone, so the same
// limbs give the same bits on every device).
SP_EXACT_HD double value(int64_t l0, int64_t l1, int64_t l2) {
  normalise(l0, l1, l2);
  const bool negative = l2 < 0;
  if (negative) {  // magnitude: negate every limb and carry again, so that all three are >= 0
    l0 = -l0, l1 = -l1, l2 = -l2;
    normalise(l0, l1, l2);
  }
  const double a = std::ldexp(double(l2), 20), b = std::ldexp(double(l1), -20), c = std::ldexp(double(l0), -60);
  const double s = a + b, bv = s - a, err = (a - (s - bv)) + (b - bv);  // a + b = s + err exactly
  const double r = s + (err + c);
  return negative ? -r : r;
}

}  // namespace sp::exact
