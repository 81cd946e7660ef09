#pragma once
// FNV-1a 64: a small, stable digest for identities and seeds (not for security).
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace sp {

struct Fnv1a {
  uint64_t h = 0xcbf29ce484222325ull;
  void add(const void* p, size_t n) {
    const auto* b = static_cast<const unsigned char*>(p);
    for (size_t i = 0; i < n; ++i) h = (h ^ b[i]) * 0x100000001b3ull;
  }
};

inline uint64_t fnv1a(std::string_view s) {
  Fnv1a f;
  f.add(s.data(), s.size());
  return f.h;
}

}  // namespace sp
