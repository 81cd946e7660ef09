#include <algorithm>
#include <cmath>
#include <cstdlib>

#include "prune/allocation.h"

namespace sp::prune {

Allocation flap_allocation(const std::vector<Block>& blocks, const std::vector<std::vector<double>>& z,
                           double sparsity) {
  Allocation a;
  struct Entry {
    double z;
    int block, pos;
  };
  std::vector<Entry> all;
  for (size_t b = 0; b < blocks.size(); ++b) {
    a.total_params += blocks[b].budget_params();
    for (size_t p = 0; p < z[b].size(); ++p) all.push_back({z[b][p], int(b), int(p)});
  }
  std::stable_sort(all.begin(), all.end(), [](const Entry& x, const Entry& y) { return x.z < y.z; });
  a.budget = std::llround(sparsity * double(a.total_params));
  a.removed.assign(blocks.size(), 0);
  for (const Entry& e : all) {
    const int64_t p = blocks[size_t(e.block)].unit_params;
    if (std::llabs(a.removed_params + p - a.budget) >= std::llabs(a.removed_params - a.budget)) break;
    a.removed_params += p;
    a.removed[size_t(e.block)] += 1;
    a.lambda = e.z;
  }
  return a;
}

}  // namespace sp::prune
