#pragma once
// Contiguous balanced ranges: n items in `parts` consecutive ranges whose sizes differ by at most
// one (the first n % parts get one extra; parts beyond n get empty ranges). Used to split decoder
// layers over ranks (ownership) and evaluation windows over ranks.
#include <algorithm>
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

// The windows of `part` when n windows, grouped in batches of `batch` (the last may be short), are
// split over `parts` in contiguous balanced ranges of whole batches: {first window, count}. A
// window then sits in the same batch (the same neighbours in one forward call) for any `parts`.
inline std::pair<int, int> batch_aligned_range(int n, int batch, int part, int parts) {
  SP_CHECK(batch > 0 && part >= 0 && part < parts, "batch {} part {} of {}", batch, part, parts);
  const int batches = (n + batch - 1) / batch;
  const auto [b0, nb] = balanced_ranges(batches, parts)[size_t(part)];
  const int first = std::min(n, b0 * batch), last = std::min(n, (b0 + nb) * batch);
  return {first, last - first};
}

}  // namespace sp
