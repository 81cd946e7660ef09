#pragma once
// Element types and the bf16 / fp16 <-> fp32 conversions used on the host.
#include <cstdint>
#include <cstring>
#include <string>

#include "core/enum_names.h"

namespace sp {

enum class DType : uint8_t { F32, F16, BF16, F64, I32, I64, U8 };

size_t dtype_size(DType t);
const char* dtype_name(DType t);                 // "F32", "BF16", ... (safetensors spelling)
// The float dtypes weights are stored in, as the config and report.json spell them.
inline constexpr EnumName<DType> kWeightDTypeNames[] = {
    {DType::BF16, "bf16"}, {DType::F16, "fp16"}, {DType::F32, "fp32"}};
DType dtype_from_name(const std::string& name);  // throws InputError for an unknown name

inline float bf16_to_f32(uint16_t h) {
  uint32_t u = uint32_t(h) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

// Round to nearest even, NaN kept quiet (matches torch's float -> bfloat16).
inline uint16_t f32_to_bf16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) return uint16_t((u >> 16) | 0x40u);
  u += 0x7fffu + ((u >> 16) & 1u);
  return uint16_t(u >> 16);
}

float f16_to_f32(uint16_t h);
uint16_t f32_to_f16(float f);

}  // namespace sp
