#pragma once
// Contiguous balanced ranges: n items in `parts` consecutive ranges whose sizes differ by at most
// one (the first n % parts get one extra; parts beyond n get empty ranges). Used to split decoder
// layers over ranks (ownership) and evaluation windows over ranks.
#include <utility>
#include <vector>

#include "core/error.h"

namespace sp {

// {first, count} per part.
inline std::vector<std::pair<int, int>> balanced_ranges(int n, int parts) {
  SP_CHECK(parts > 0 && n >= 0, "n {} parts {}", n, parts);
  std::vector<std::pair<int, int>> out;
  const int base = n / parts, extra = n % parts;
  int first = 0;
  for (int r = 0; r < parts; ++r) {
    const int count = base + (r < extra ? 1 : 0);
    out.emplace_back(first, count);
    first += count;
  }
  return out;
}

}  // namespace sp
