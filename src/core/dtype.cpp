#include "core/dtype.h"

#include <cmath>

#include "core/error.h"

namespace sp {

size_t dtype_size(DType t) {
  switch (t) {
    case DType::F32:
      return 4;
    case DType::F16:
      return 2;
    case DType::BF16:
      return 2;
    case DType::F64:
      return 8;
    case DType::I32:
      return 4;
    case DType::I64:
      return 8;
    case DType::U8:
      return 1;
  }
  return 0;
}

const char* dtype_name(DType t) {
  switch (t) {
    case DType::F32:
      return "F32";
    case DType::F16:
      return "F16";
    case DType::BF16:
      return "BF16";
    case DType::F64:
      return "F64";
    case DType::I32:
      return "I32";
    case DType::I64:
      return "I64";
    case DType::U8:
      return "U8";
  }
  return "?";
}

DType dtype_from_name(const std::string& n) {
  if (n == "F32") return DType::F32;
  if (n == "F16") return DType::F16;
  if (n == "BF16") return DType::BF16;
  if (n == "F64") return DType::F64;
  if (n == "I32") return DType::I32;
  if (n == "I64") return DType::I64;
  if (n == "U8") return DType::U8;
  throw_input("unsupported dtype '{}' (expected F32, F16, BF16, F64, I32, I64 or U8)", n);
}

float f16_to_f32(uint16_t h) {
  const uint32_t sign = uint32_t(h & 0x8000u) << 16;
  const uint32_t exp = (h >> 10) & 0x1fu;
  const uint32_t man = h & 0x3ffu;
  float f;
  if (exp == 0) {
    f = std::ldexp(float(man), -24);  // zero or subnormal
    return sign ? -f : f;
  }
  uint32_t u;
  if (exp == 31)
    u = sign | 0x7f800000u | (man << 13);  // inf / nan
  else
    u = sign | ((exp + 112u) << 23) | (man << 13);
  std::memcpy(&f, &u, 4);
  return f;
}

uint16_t f32_to_f16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  const uint16_t sign = uint16_t((u >> 16) & 0x8000u);
  const float a = std::fabs(f);
  if (std::isnan(f)) return uint16_t(sign | 0x7e00u);
  if (a >= 65520.0f) return uint16_t(sign | 0x7c00u);
  if (a < 6.103515625e-05f) {  // subnormal: quantum 2^-24, round half to even
    const float q = std::nearbyint(a * 16777216.0f);
    return uint16_t(sign | uint16_t(q));
  }
  uint32_t au = u & 0x7fffffffu;
  au += 0xfffu + ((au >> 13) & 1u);  // round mantissa to 10 bits, half to even
  const uint32_t exp = (au >> 23) - 112u;
  return uint16_t(sign | (exp << 10) | ((au >> 13) & 0x3ffu));
}

}  // namespace sp
