#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "core/dtype.h"

namespace sp {

// bf16 conversion against the definition: the nearest bf16 value (ties to even), computed by
// scanning the two neighbouring representable values in double precision.
TEST(DType, Bf16RoundsToNearestEven) {
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> u(-1e4f, 1e4f);
  for (int i = 0; i < 100000; ++i) {
    const float f = u(rng);
    const uint16_t h = f32_to_bf16(f);
    const double got = bf16_to_f32(h);
    const double lo = bf16_to_f32(uint16_t(h - 1)), hi = bf16_to_f32(uint16_t(h + 1));
    EXPECT_LE(std::fabs(got - f), std::fabs(lo - f));
    EXPECT_LE(std::fabs(got - f), std::fabs(hi - f));
  }
  EXPECT_TRUE(std::isnan(bf16_to_f32(f32_to_bf16(NAN))));
}

TEST(DType, F16RoundTripAndRounding) {
  // Every finite half value survives half -> float -> half.
  for (uint32_t h = 0; h < 0x10000u; ++h) {
    if (((h >> 10) & 0x1fu) == 0x1fu) continue;  // inf / nan
    EXPECT_EQ(f32_to_f16(f16_to_f32(uint16_t(h))), uint16_t(h)) << h;
  }
  EXPECT_EQ(f16_to_f32(0x3c00), 1.0f);
  EXPECT_EQ(f16_to_f32(0xc000), -2.0f);
  EXPECT_EQ(f32_to_f16(65504.f), 0x7bff);
  EXPECT_EQ(f32_to_f16(1e6f), 0x7c00);                  // overflow -> inf
  EXPECT_EQ(f32_to_f16(1.0f + 1.0f / 2048.f), 0x3c00);  // tie -> even
}

TEST(DType, NamesRoundTrip) {
  for (auto t : {DType::F32, DType::F16, DType::BF16, DType::F64, DType::I32, DType::I64, DType::U8})
    EXPECT_EQ(dtype_from_name(dtype_name(t)), t);
  EXPECT_THROW(dtype_from_name("F8_E4M3"), std::runtime_error);
}

}  // namespace sp
