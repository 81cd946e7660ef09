// Shape constraints on top of any allocation mode, as rewrites of the blocks:
//  - prune.round_to = r: an MLP block of n groups first gives up n % r groups, then is allocated in
//    units of r groups (its curve sampled every r groups), so its kept width is a multiple of r;
//  - prune.uniform_shape: the blocks of one module are merged into one block whose group is "one
//    group of every layer" (curves summed in layer order), so every layer removes the same count;
//    the mode's count for attention stands and the MLP takes the rest of the budget.
// The mode allocates the rewritten blocks and the counts are mapped back. The budget stays
// B = round(sparsity x total): the rewritten problem is given the sparsity whose budget is B less
// the groups removed up front. Every rank rewrites from the gathered sizes, so errors and results
// are the same on every rank; the merged problem is solved on every rank alone (self communicator)
// from gathered curves folded in global order, so it does not depend on the split either.
#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include "core/error.h"
#include "prune/allocation.h"
#include "prune/allocation_detail.h"

namespace sp::prune::detail {
namespace {

constexpr int kMlp = 1;
// How far the achieved sparsity may end from the target before the rounding is refused.
constexpr double kSparsityTolerance = 0.005;

// One block rewritten for round_to: `offset` groups removed up front, then `step` groups per unit.
struct Coarse {
  int offset = 0, step = 1;
  BlockInfo info;  // the rewritten sizes and bounds
};

Coarse coarsen(const BlockInfo& b, int round_to) {
  Coarse c;
  c.info = b;
  if (b.module != kMlp || round_to <= 1) return c;
  c.step = round_to;
  c.offset = b.n_units % round_to;
  c.info.unit_params = b.unit_params * round_to;
  c.info.n_units = b.n_units / round_to;
  c.info.min_removed = b.min_removed <= c.offset ? 0 : (b.min_removed - c.offset + round_to - 1) / round_to;
  c.info.max_removed = b.max_removed < c.offset ? -1 : (b.max_removed - c.offset) / round_to;
  SP_REQUIRE(c.info.n_units > 0, "prune.round_to = {}: {} has {} neurons, fewer than one multiple of {}", round_to,
             block_name(b.layer, b.module), b.n_units, round_to);
  SP_REQUIRE(c.info.max_removed >= c.info.min_removed,
             "prune.round_to = {}: no width of {} that is a multiple of {} keeps the removed neurons within [{}, {}] "
             "(prune.s_min / prune.s_max)",
             round_to, block_name(b.layer, b.module), round_to, b.min_removed, b.max_removed);
  return c;
}

Block coarse_block(const Block& b, const Coarse& c) {
  Block out;
  out.layer = b.layer, out.module = b.module, out.unit_params = c.info.unit_params, out.n_units = c.info.n_units;
  out.min_removed = c.info.min_removed, out.max_removed = c.info.max_removed;
  for (int j = 0; j <= out.n_units; ++j)
    out.cost.push_back(b.cost[size_t(c.offset + c.step * j)] - b.cost[size_t(c.offset)]);
  return out;
}

// uniform_shape: one block per module from the (coarse) blocks of every layer, whose global
// curves are `costs`. Its unit is one unit of every layer; its bounds the tightest of the layers'.
std::vector<Block> merge_modules(const std::vector<BlockInfo>& info, const std::vector<std::vector<double>>& costs) {
  std::map<int, std::vector<int>> of_module;  // module -> global blocks, layer order
  std::map<int, std::set<int>> layers;
  std::set<int> every_layer;
  for (size_t b = 0; b < info.size(); ++b) {
    of_module[info[b].module].push_back(int(b));
    layers[info[b].module].insert(info[b].layer);
    every_layer.insert(info[b].layer);
  }
  std::vector<Block> merged;
  for (const auto& [module, blocks] : of_module) {
    const BlockInfo& first = info[size_t(blocks.front())];
    Block m;
    m.layer = 0, m.module = module, m.n_units = first.n_units, m.unit_params = 0;
    m.min_removed = 0, m.max_removed = first.n_units;
    m.cost.assign(size_t(first.n_units) + 1, 0.0);
    for (int b : blocks) {
      const BlockInfo& bi = info[size_t(b)];
      SP_REQUIRE(bi.n_units == first.n_units && bi.unit_params == first.unit_params,
                 "prune.uniform_shape: {} has {} groups of {} parameters but {} has {} of {}: the layers of the "
                 "model differ in shape, so one kept shape for all of them is undefined",
                 block_name(bi.layer, bi.module), bi.n_units, bi.unit_params, block_name(first.layer, first.module),
                 first.n_units, first.unit_params);
      m.unit_params += bi.unit_params;
      m.min_removed = std::max(m.min_removed, bi.min_removed);
      m.max_removed = std::min(m.max_removed, bi.max_removed);
      for (size_t k = 0; k < m.cost.size(); ++k) m.cost[k] += costs[size_t(b)][k];
    }
    SP_REQUIRE(layers[module] == every_layer,
               "prune.uniform_shape: {} of the {} layers with prunable groups have prunable {} groups; one kept shape "
               "for all of them is undefined",
               layers[module].size(), every_layer.size(), module == kMlp ? "MLP" : "attention");
    merged.push_back(std::move(m));
  }
  return merged;
}

// The merged units are as many layers wide as the model is deep, and the modes' nearest prefix is
// only within half the LARGEST unit of the budget (a merged head: percents of the model). So the
// mode's choice stands for the coarser blocks and the finest one (MLP neurons) takes what they
// leave of the budget, to the nearest unit within its bounds.
void finest_takes_the_rest(const std::vector<Block>& merged, int64_t budget, std::vector<int>& removed) {
  size_t finest = 0;
  for (size_t m = 1; m < merged.size(); ++m)
    if (merged[m].unit_params < merged[finest].unit_params) finest = m;
  int64_t others = 0;
  for (size_t m = 0; m < merged.size(); ++m)
    if (m != finest) others += removed[m] * merged[m].unit_params;
  const Block& f = merged[finest];
  const double units = double(budget - others) / double(f.unit_params);
  removed[finest] = std::clamp(int(std::llround(units)), f.min_removed, f.max_removed);
}

}  // namespace

Allocation allocate_shaped(const std::vector<Block>& local, const AllocationOptions& opt, Communicator& comm) {
  SP_REQUIRE(opt.round_to >= 1, "prune.round_to = {} must be >= 1", opt.round_to);
  const GlobalBlocks gb = validate_and_gather(local, opt, comm);  // the curves and the plain budget
  std::vector<Coarse> coarse;
  std::vector<BlockInfo> coarse_info;
  int64_t upfront = 0;  // parameters of the groups removed before the allocation (n % round_to)
  for (const BlockInfo& bi : gb.info) {
    coarse.push_back(coarsen(bi, opt.round_to));
    coarse_info.push_back(coarse.back().info);
    upfront += coarse.back().offset * bi.unit_params;
  }
  const std::string what = !opt.uniform_shape ? fmt::format("prune.round_to = {}", opt.round_to)
                           : opt.round_to > 1 ? fmt::format("prune.round_to = {} with prune.uniform_shape", opt.round_to)
                                              : std::string("prune.uniform_shape");
  // The rewritten problem: its budget, and whether its bounds can meet it.
  int64_t total = 0, lo = upfront, hi = upfront;
  for (const BlockInfo& c : coarse_info) {
    total += c.params();
    lo += c.min_removed * c.unit_params;
    hi += c.max_removed * c.unit_params;
  }
  const double all = double(std::max<int64_t>(gb.total_params, 1));
  SP_REQUIRE(lo <= gb.budget && gb.budget <= hi,
             "prune.sparsity = {} asks to remove {} of {} prunable parameters, but with {} the per-layer bounds "
             "prune.s_min / prune.s_max allow only [{}, {}] (sparsity [{:.6g}, {:.6g}])",
             opt.sparsity, gb.budget, gb.total_params, what, lo, hi, double(lo) / all, double(hi) / all);
  AllocationOptions inner = opt;
  inner.round_to = 1;
  inner.uniform_shape = false;
  inner.sparsity = total > 0 ? double(gb.budget - upfront) / double(total) : 0.0;

  std::vector<Block> local_coarse;
  for (size_t i = 0; i < local.size(); ++i) local_coarse.push_back(coarse_block(local[i], coarse[size_t(gb.of_local[i])]));
  std::vector<int> removed(size_t(gb.size()));  // coarse units per global block
  Allocation inner_result;
  if (opt.uniform_shape) {
    std::vector<std::vector<double>> rows;
    for (const Block& b : local_coarse) rows.push_back(b.cost);
    const std::vector<Block> merged = merge_modules(coarse_info, gb.gather(rows, comm));
    auto self = make_self_communicator();
    inner_result = allocate_mode(merged, inner, *self);
    finest_takes_the_rest(merged, inner_result.budget, inner_result.removed);
    for (int b = 0; b < gb.size(); ++b)
      for (size_t m = 0; m < merged.size(); ++m)
        if (merged[m].module == coarse_info[size_t(b)].module) removed[size_t(b)] = inner_result.removed[m];
  } else {
    inner_result = allocate_mode(local_coarse, inner, comm);
    std::vector<double> mine(inner_result.removed.begin(), inner_result.removed.end());
    const std::vector<double> every = gb.gather_scalar(mine, comm);
    for (int b = 0; b < gb.size(); ++b) removed[size_t(b)] = int(every[size_t(b)]);
  }
  std::vector<int> groups(size_t(gb.size()));
  for (int b = 0; b < gb.size(); ++b)
    groups[size_t(b)] = coarse[size_t(b)].offset + coarse[size_t(b)].step * removed[size_t(b)];
  Allocation a = make_allocation(gb, groups);
  a.lambda = inner_result.lambda;
  a.iterations = inner_result.iterations;
  a.primal_residual = inner_result.primal_residual;
  a.dual_residual = inner_result.dual_residual;
  a.converged = inner_result.converged;
  const double achieved = double(a.removed_params) / all, target = double(a.budget) / all;
  SP_REQUIRE(std::fabs(achieved - target) <= kSparsityTolerance,
             "{}: the nearest allocation in whole units removes {} of {} prunable parameters, sparsity {:.4f}, more "
             "than {} from prune.sparsity = {}: the units are too coarse for this model (use a smaller prune.round_to, or no prune.uniform_shape)",
             what, a.removed_params, a.total_params, achieved, kSparsityTolerance, opt.sparsity);
  return a;
}

}  // namespace sp::prune::detail
