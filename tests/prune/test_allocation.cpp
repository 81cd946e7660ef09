// Budget allocation against independent references: brute force over every integer allocation,
// a nested-bisection solution of the continuous tempered problem, the definition of the softmax
// rule, and the same blocks split over several logical ranks (threads with a shared-memory
// Communicator that folds in rank order, like MpiCommunicator).
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <barrier>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <numeric>
#include <random>
#include <thread>

#include "core/error.h"
#include "prune/allocation.h"
#include "test_util.h"

namespace sp::prune {
namespace {

// ---------------------------------------------------------------------------------------------
// Instances

// A removal curve from `n` positive increments; sorted increments give a convex curve.
Block make_block(std::mt19937& rng, int layer, int module, int n, int64_t unit, bool convex, double scale = 1.0) {
  std::uniform_real_distribution<double> inc(0.01, 1.0);
  std::vector<double> d(n);
  for (double& v : d) v = scale * inc(rng) * inc(rng);
  if (convex) std::sort(d.begin(), d.end());
  Block b;
  b.layer = layer, b.module = module, b.unit_params = unit, b.n_units = n;
  b.cost.assign(n + 1, 0.0);
  for (int k = 0; k < n; ++k) b.cost[k + 1] = b.cost[k] + d[k];
  b.min_removed = 0, b.max_removed = n;
  return b;
}

// A small model-like instance: per layer an attention block (few big units) and an MLP block
// (many small units), with random bounds and scales that differ between layers.
std::vector<Block> model_like(std::mt19937& rng, int layers, bool convex, bool bounds) {
  std::uniform_int_distribution<int> heads(4, 16), neurons(16, 96);
  std::uniform_real_distribution<double> scale(0.2, 5.0), frac(0.0, 1.0);
  std::vector<Block> blocks;
  for (int l = 0; l < layers; ++l) {
    for (int m = 0; m < 2; ++m) {
      const int n = m == 0 ? heads(rng) : neurons(rng);
      Block b = make_block(rng, l, m, n, m == 0 ? 64 : 24, convex, scale(rng));
      if (bounds) {
        b.min_removed = static_cast<int>(0.1 * frac(rng) * n);
        b.max_removed = n - static_cast<int>(0.3 * frac(rng) * n);
      }
      blocks.push_back(std::move(b));
    }
  }
  return blocks;
}

int64_t total_params(const std::vector<Block>& blocks) {
  int64_t t = 0;
  for (const Block& b : blocks) t += b.params();
  return t;
}

// Sparsity whose budget llround(s * total) is exactly `budget`.
double sparsity_for(const std::vector<Block>& blocks, int64_t budget) {
  return static_cast<double>(budget) / static_cast<double>(total_params(blocks));
}

// A sparsity strictly inside the reachable range of the bounds.
double feasible_sparsity(std::mt19937& rng, const std::vector<Block>& blocks) {
  int64_t lo = 0, hi = 0;
  for (const Block& b : blocks) lo += b.min_removed * b.unit_params, hi += b.max_removed * b.unit_params;
  std::uniform_real_distribution<double> u(0.05, 0.95);
  return sparsity_for(blocks, lo + std::llround(u(rng) * static_cast<double>(hi - lo)));
}

double removed_cost(const std::vector<Block>& blocks, const std::vector<int>& k) {
  double c = 0.0;
  for (size_t b = 0; b < blocks.size(); ++b) c += blocks[b].cost[k[b]];
  return c;
}

int64_t removed_params(const std::vector<Block>& blocks, const std::vector<int>& k) {
  int64_t p = 0;
  for (size_t b = 0; b < blocks.size(); ++b) p += k[b] * blocks[b].unit_params;
  return p;
}

int64_t largest_unit(const std::vector<Block>& blocks) {
  int64_t u = 0;
  for (const Block& b : blocks) u = std::max(u, b.unit_params);
  return u;
}

AllocationOptions options(AllocationMode mode, double sparsity, double tau = 0.0) {
  AllocationOptions o;
  o.mode = mode;
  o.sparsity = sparsity;
  o.temperature = tau;
  return o;
}

void expect_within_bounds(const std::vector<Block>& blocks, const Allocation& a) {
  ASSERT_EQ(a.removed.size(), blocks.size());
  for (size_t b = 0; b < blocks.size(); ++b) {
    EXPECT_GE(a.removed[b], blocks[b].min_removed) << b;
    EXPECT_LE(a.removed[b], blocks[b].max_removed) << b;
  }
  EXPECT_EQ(a.removed_params, removed_params(blocks, a.removed));
  EXPECT_EQ(a.total_params, total_params(blocks));
}

// ---------------------------------------------------------------------------------------------
// The global rule (tau = 0)

// Every feasible integer allocation: the lowest removed cost for each removed total.
std::map<int64_t, double> brute_force(const std::vector<Block>& blocks) {
  std::map<int64_t, double> best;
  std::vector<int> k;
  for (const Block& b : blocks) k.push_back(b.min_removed);
  for (;;) {
    const int64_t p = removed_params(blocks, k);
    const double c = removed_cost(blocks, k);
    auto it = best.find(p);
    if (it == best.end() || c < it->second) best[p] = c;
    size_t b = 0;
    while (b < blocks.size() && k[b] == blocks[b].max_removed) k[b] = blocks[b].min_removed, ++b;
    if (b == blocks.size()) break;
    ++k[b];
  }
  return best;
}

// The global rule is a Lagrangian solution: it costs the least of all allocations that remove
// the same number of parameters. With mixed group sizes that total is the prefix of the marginal
// order nearest to B, within half the largest group of B; it is B itself when the group sizes
// are equal (B reachable) or when the prefix lands on B.
TEST(AllocationGlobal, MatchesBruteForceOnConvexCurves) {
  auto comm = make_self_communicator();
  const int64_t units[] = {1, 2, 3, 5};
  for (int seed = 0; seed < 300; ++seed) {
    std::mt19937 rng(seed);
    const bool equal_units = seed % 3 == 0;
    const int nb = 3 + seed % 2;
    std::vector<Block> blocks;
    for (int b = 0; b < nb; ++b) {
      const int n = std::uniform_int_distribution<int>(2, 6)(rng);
      Block blk = make_block(rng, b / 2, b % 2, n, equal_units ? 2 : units[rng() % 4], true);
      if (seed % 2) blk.min_removed = rng() % 2, blk.max_removed = n - static_cast<int>(rng() % 2);
      blocks.push_back(blk);
    }
    // B = the params of some feasible allocation.
    std::vector<int> pick;
    for (const Block& b : blocks) pick.push_back(std::uniform_int_distribution<int>(b.min_removed, b.max_removed)(rng));
    const int64_t budget = removed_params(blocks, pick);
    const Allocation a = allocate_global(blocks, options(AllocationMode::Global, sparsity_for(blocks, budget)), *comm);
    expect_within_bounds(blocks, a);
    ASSERT_EQ(a.budget, budget);
    const auto best = brute_force(blocks);
    EXPECT_NEAR(removed_cost(blocks, a.removed), best.at(a.removed_params), 1e-9) << "seed " << seed;
    if (equal_units) {
      EXPECT_EQ(a.removed_params, budget) << "seed " << seed;
    }
    EXPECT_LE(2 * std::llabs(a.removed_params - budget), largest_unit(blocks)) << "seed " << seed;
    // lambda separates taken from untaken groups (marginal cost per parameter).
    for (size_t b = 0; b < blocks.size(); ++b) {
      const Block& blk = blocks[b];
      for (int k = blk.min_removed; k < blk.max_removed; ++k) {
        const double m = (blk.cost[k + 1] - blk.cost[k]) / static_cast<double>(blk.unit_params);
        if (k < a.removed[b]) {
          EXPECT_LE(m, a.lambda + 1e-12) << "seed " << seed;
        } else {
          EXPECT_GE(m, a.lambda - 1e-12) << "seed " << seed;
        }
      }
    }
  }
}

// Equal group sizes, distinct marginals: exactly the B / unit cheapest groups go.
TEST(AllocationGlobal, TakesTheCheapestGroups) {
  auto comm = make_self_communicator();
  for (int seed = 0; seed < 50; ++seed) {
    std::mt19937 rng(1000 + seed);
    std::vector<Block> blocks;
    std::vector<std::pair<double, int>> all;  // (marginal, block)
    for (int b = 0; b < 6; ++b) {
      blocks.push_back(make_block(rng, b, 1, std::uniform_int_distribution<int>(3, 20)(rng), 7, true));
      for (int k = 0; k < blocks[b].n_units; ++k) all.push_back({blocks[b].cost[k + 1] - blocks[b].cost[k], b});
    }
    std::sort(all.begin(), all.end());
    const int groups = std::uniform_int_distribution<int>(0, static_cast<int>(all.size()))(rng);
    std::vector<int> expect(blocks.size(), 0);
    for (int i = 0; i < groups; ++i) ++expect[all[i].second];
    const Allocation a =
        allocate_global(blocks, options(AllocationMode::Global, sparsity_for(blocks, 7 * groups)), *comm);
    EXPECT_EQ(a.removed, expect) << "seed " << seed;
  }
}

// A non-convex curve is allocated by its lower convex hull: [0, 10, 11, 12] has hull slope 4 per
// group, cheaper than a linear block at 5 per group, so all three of its groups go first.
TEST(AllocationGlobal, UsesTheConvexHull) {
  auto comm = make_self_communicator();
  Block bumpy{.layer = 0,
              .module = 0,
              .unit_params = 1,
              .n_units = 3,
              .cost = {0, 10, 11, 12},
              .min_removed = 0,
              .max_removed = 3};
  Block linear{.layer = 0,
               .module = 1,
               .unit_params = 1,
               .n_units = 3,
               .cost = {0, 5, 10, 15},
               .min_removed = 0,
               .max_removed = 3};
  const Allocation a = allocate_global({bumpy, linear}, options(AllocationMode::Global, 0.5), *comm);
  EXPECT_EQ(a.removed, (std::vector<int>{3, 0}));
  EXPECT_DOUBLE_EQ(a.lambda, 4.0);
}

// ---------------------------------------------------------------------------------------------
// The tempered problem

// sigma of allocation.cpp from its definition: cost per removed parameter under uniform sparsity
// (convex curves: the hull is the curve).
double normaliser(const std::vector<Block>& blocks, double sparsity, Communicator& comm) {
  const Allocation u = allocate_uniform(blocks, options(AllocationMode::Uniform, sparsity), comm);
  double num = 0.0, den = 0.0;
  for (size_t b = 0; b < blocks.size(); ++b) {
    num += blocks[b].cost[u.removed[b]];
    den += static_cast<double>(u.removed[b] * blocks[b].unit_params);
  }
  return den > 0 && num > 0 ? num / den : 1.0;
}

// The continuous optimum of  sum_b f_b(x_b) / sigma + tau (x_b log(x_b / N_b) - x_b),  sum x_b = B,
// x_b in [lo_b, hi_b], f_b the piecewise-linear convex curve: bisection on the multiplier mu
// outside, per block bisection of  f_b'(x) / sigma + tau log(x / N_b) = mu  inside.
std::vector<double> continuous_tempered(const std::vector<Block>& blocks, double sigma, double tau, double budget) {
  auto solve_block = [&](const Block& b, double mu) {
    const double unit = static_cast<double>(b.unit_params), size = static_cast<double>(b.params());
    double lo = b.min_removed * unit, hi = b.max_removed * unit;
    for (int i = 0; i < 200; ++i) {
      const double x = 0.5 * (lo + hi);
      const int k = std::min(b.n_units - 1, static_cast<int>(x / unit));
      const double slope = (b.cost[k + 1] - b.cost[k]) / unit / sigma + tau * std::log(x / size);
      (slope < mu ? lo : hi) = x;
    }
    return 0.5 * (lo + hi);
  };
  double lo = -1e4, hi = 1e4;
  for (int i = 0; i < 300; ++i) {
    const double mu = 0.5 * (lo + hi);
    double total = 0.0;
    for (const Block& b : blocks) total += solve_block(b, mu);
    (total < budget ? lo : hi) = mu;
  }
  std::vector<double> x;
  for (const Block& b : blocks) x.push_back(solve_block(b, 0.5 * (lo + hi)));
  return x;
}

TEST(AllocationTempered, DirectIsWithinOneGroupOfTheContinuousOptimum) {
  auto comm = make_self_communicator();
  for (int seed = 0; seed < 120; ++seed) {
    std::mt19937 rng(2000 + seed);
    const std::vector<Block> blocks = model_like(rng, 2 + seed % 4, true, seed % 2 == 1);
    const double s = feasible_sparsity(rng, blocks);
    const double tau = std::vector<double>{0.05, 0.3, 1.0, 3.0}[seed % 4];
    const Allocation a = allocate_tempered_direct(blocks, options(AllocationMode::Admm, s, tau), *comm);
    expect_within_bounds(blocks, a);
    EXPECT_LE(2 * std::llabs(a.removed_params - a.budget), largest_unit(blocks));
    const auto x = continuous_tempered(blocks, normaliser(blocks, s, *comm), tau, static_cast<double>(a.budget));
    for (size_t b = 0; b < blocks.size(); ++b)
      EXPECT_LE(std::fabs(a.removed[b] - x[b] / blocks[b].unit_params), 1.0 + 1e-6)
          << "seed " << seed << " block " << b << " tau " << tau;
  }
}

TEST(AllocationTempered, ZeroTemperatureIsTheGlobalRule) {
  auto comm = make_self_communicator();
  for (int seed = 0; seed < 40; ++seed) {
    std::mt19937 rng(3000 + seed);
    const std::vector<Block> blocks = model_like(rng, 3, seed % 2 == 0, true);
    const auto opt = options(AllocationMode::Global, feasible_sparsity(rng, blocks), 0.0);
    const Allocation d = allocate_tempered_direct(blocks, opt, *comm), g = allocate_global(blocks, opt, *comm);
    EXPECT_EQ(d.removed, g.removed) << "seed " << seed;
    EXPECT_EQ(d.lambda, g.lambda);
  }
}

// ---------------------------------------------------------------------------------------------
// ADMM

TEST(AllocationAdmm, ZeroTemperatureEqualsGlobal) {
  auto comm = make_self_communicator();
  for (int seed = 0; seed < 60; ++seed) {
    std::mt19937 rng(4000 + seed);
    const std::vector<Block> blocks = model_like(rng, 2 + seed % 7, seed % 3 != 0, seed % 2 == 0);
    const auto opt = options(AllocationMode::Admm, feasible_sparsity(rng, blocks), 0.0);
    const Allocation a = allocate_admm(blocks, opt, *comm), g = allocate_global(blocks, opt, *comm);
    EXPECT_EQ(a.removed, g.removed) << "seed " << seed;
    EXPECT_TRUE(a.converged) << "seed " << seed << " after " << a.iterations << " iterations, r " << a.primal_residual
                             << " s " << a.dual_residual;
    EXPECT_LT(a.primal_residual, opt.tol_primal);
    EXPECT_LT(a.dual_residual, opt.tol_dual);
  }
}

TEST(AllocationAdmm, PositiveTemperatureEqualsDirect) {
  auto comm = make_self_communicator();
  for (int seed = 0; seed < 60; ++seed) {
    std::mt19937 rng(5000 + seed);
    const std::vector<Block> blocks = model_like(rng, 2 + seed % 7, seed % 3 != 0, seed % 2 == 0);
    const double tau = std::vector<double>{0.1, 0.5, 2.0}[seed % 3];
    const auto opt = options(AllocationMode::Admm, feasible_sparsity(rng, blocks), tau);
    const Allocation a = allocate_admm(blocks, opt, *comm), d = allocate_tempered_direct(blocks, opt, *comm);
    EXPECT_EQ(a.removed, d.removed) << "seed " << seed;
    EXPECT_TRUE(a.converged) << "seed " << seed << " after " << a.iterations << " iterations";
    // The dual is the cut's multiplier: within a few percent of the direct greedy's.
    EXPECT_NEAR(a.lambda, d.lambda, 0.05 * std::fabs(d.lambda) + 1e-3) << "seed " << seed;
  }
}

// Non-converged runs still return the exact integer optimum (the completion checks its start).
TEST(AllocationAdmm, OneIterationStillExact) {
  auto comm = make_self_communicator();
  std::mt19937 rng(6000);
  const std::vector<Block> blocks = model_like(rng, 6, true, true);
  auto opt = options(AllocationMode::Admm, feasible_sparsity(rng, blocks), 0.5);
  opt.max_iters = 1;
  const Allocation a = allocate_admm(blocks, opt, *comm), d = allocate_tempered_direct(blocks, opt, *comm);
  EXPECT_EQ(a.iterations, 1);
  EXPECT_EQ(a.removed, d.removed);
}

// ---------------------------------------------------------------------------------------------
// Softmax and uniform

// The energy of allocation.cpp from its definition (convex curves: the hull is the curve); sigma
// scales every energy alike, so comparisons between blocks do not need it.
double energy(const Block& b, int uniform_share) {
  const double unit = static_cast<double>(b.unit_params);
  return uniform_share > 0 ? b.cost[uniform_share] / (uniform_share * unit) : b.cost[1] / unit;
}

TEST(AllocationSoftmax, MeetsTheBudgetWithinBounds) {
  auto comm = make_self_communicator();
  for (int seed = 0; seed < 90; ++seed) {
    std::mt19937 rng(7000 + seed);
    const bool equal_units = seed % 3 == 0;
    std::vector<Block> blocks = model_like(rng, 2 + seed % 5, seed % 2 == 0, true);
    if (equal_units)
      for (Block& b : blocks) b.unit_params = 10;
    const double tau = std::vector<double>{0.02, 0.3, 1.0, 10.0, 1e3}[seed % 5];
    const Allocation a =
        allocate_softmax(blocks, options(AllocationMode::Softmax, feasible_sparsity(rng, blocks), tau), *comm);
    expect_within_bounds(blocks, a);
    EXPECT_LE(2 * std::llabs(a.removed_params - a.budget), equal_units ? 10 : largest_unit(blocks)) << "seed " << seed;
  }
}

TEST(AllocationSoftmax, LargeTemperatureIsUniform) {
  auto comm = make_self_communicator();
  for (int seed = 0; seed < 30; ++seed) {
    std::mt19937 rng(8000 + seed);
    const std::vector<Block> blocks = model_like(rng, 4, seed % 2 == 0, false);
    const double s = std::uniform_real_distribution<double>(0.05, 0.95)(rng);
    const Allocation a = allocate_softmax(blocks, options(AllocationMode::Softmax, s, 1e6), *comm);
    for (size_t b = 0; b < blocks.size(); ++b)
      EXPECT_LE(std::fabs(static_cast<double>(a.removed[b]) / blocks[b].n_units - s), 1.0 / blocks[b].n_units)
          << "seed " << seed << " block " << b;
  }
}

// Equal sizes and bounds: a block with a higher energy never loses a larger fraction.
TEST(AllocationSoftmax, MonotoneInEnergy) {
  auto comm = make_self_communicator();
  for (int seed = 0; seed < 60; ++seed) {
    std::mt19937 rng(9000 + seed);
    std::vector<Block> blocks;
    for (int b = 0; b < 8; ++b)
      blocks.push_back(make_block(rng, b, 1, 40, 16, true, std::uniform_real_distribution<double>(0.2, 4.0)(rng)));
    const double s = std::uniform_real_distribution<double>(0.1, 0.7)(rng);
    const double tau = std::vector<double>{0.1, 0.5, 2.0}[seed % 3];
    const Allocation u = allocate_uniform(blocks, options(AllocationMode::Uniform, s), *comm);
    const Allocation a = allocate_softmax(blocks, options(AllocationMode::Softmax, s, tau), *comm);
    for (size_t i = 0; i < blocks.size(); ++i)
      for (size_t j = 0; j < blocks.size(); ++j)
        if (energy(blocks[i], u.removed[i]) > energy(blocks[j], u.removed[j])) {
          EXPECT_LE(a.removed[i], a.removed[j]) << "seed " << seed;
        }
  }
}

// Without clipping the continuous rule is s_b = sbar * (sum N) exp(-e_b/tau) / sum N_j exp(-e_j/tau)
// with e_b normalised by sigma; the groups are that, rounded.
TEST(AllocationSoftmax, FollowsTheFormula) {
  auto comm = make_self_communicator();
  int checked = 0;
  for (int seed = 0; seed < 60; ++seed) {
    std::mt19937 rng(10000 + seed);
    const std::vector<Block> blocks = model_like(rng, 3, true, false);
    const double s = std::uniform_real_distribution<double>(0.1, 0.4)(rng), tau = 2.0;
    const Allocation u = allocate_uniform(blocks, options(AllocationMode::Uniform, s), *comm);
    const double sigma = normaliser(blocks, s, *comm);
    double den = 0.0;
    for (size_t b = 0; b < blocks.size(); ++b)
      den += blocks[b].params() * std::exp(-energy(blocks[b], u.removed[b]) / sigma / tau);
    const double budget = static_cast<double>(u.budget);
    std::vector<double> frac;
    for (size_t b = 0; b < blocks.size(); ++b)
      frac.push_back(budget * std::exp(-energy(blocks[b], u.removed[b]) / sigma / tau) / den);
    if (*std::max_element(frac.begin(), frac.end()) >= 1.0) continue;  // would clip
    ++checked;
    const Allocation a = allocate_softmax(blocks, options(AllocationMode::Softmax, s, tau), *comm);
    for (size_t b = 0; b < blocks.size(); ++b)
      EXPECT_LE(std::fabs(a.removed[b] - frac[b] * blocks[b].n_units), 1.0) << "seed " << seed;
  }
  EXPECT_GT(checked, 20);
}

TEST(AllocationUniform, EveryBlockNearTheSparsity) {
  auto comm = make_self_communicator();
  for (int seed = 0; seed < 60; ++seed) {
    std::mt19937 rng(11000 + seed);
    std::vector<Block> blocks = model_like(rng, 1 + seed % 6, true, false);
    const bool equal_units = seed % 2 == 0;
    if (equal_units)
      for (Block& b : blocks) b.unit_params = 3;
    const double s = std::uniform_real_distribution<double>(0.0, 1.0)(rng);
    const Allocation a = allocate_uniform(blocks, options(AllocationMode::Uniform, s), *comm);
    expect_within_bounds(blocks, a);
    // Equal groups: every block within one group of s. Mixed sizes: the coarsest blocks round to
    // their nearest group on their own (within half a group, when no bound binds); the finer ones
    // absorb that rounding with one common fraction.
    const int64_t coarsest = largest_unit(blocks);
    for (size_t b = 0; b < blocks.size(); ++b) {
      const Block& bl = blocks[b];
      const double want = s * bl.n_units;
      const bool bound = a.removed[b] == bl.min_removed || a.removed[b] == bl.max_removed;
      if (equal_units) {
        EXPECT_LE(std::fabs(a.removed[b] - want), 1.0) << "seed " << seed;
      } else if (bl.unit_params == coarsest && !bound) {
        EXPECT_LE(std::fabs(a.removed[b] - want), 0.5 + 1e-9) << "seed " << seed;
      }
    }
    EXPECT_LE(2 * std::llabs(a.removed_params - a.budget), equal_units ? 3 : largest_unit(blocks));
  }
}

TEST(AllocationUniform, ExactFractionsAndClippedBlocks) {
  auto comm = make_self_communicator();
  std::mt19937 rng(12000);
  std::vector<Block> blocks;
  for (int b = 0; b < 4; ++b) blocks.push_back(make_block(rng, b, 0, 10, 5, true));
  // 0.3 * 10 is not exactly 3 in floating point: still exactly 3 groups each.
  EXPECT_EQ(allocate_uniform(blocks, options(AllocationMode::Uniform, 0.3), *comm).removed,
            (std::vector<int>{3, 3, 3, 3}));
  // A block capped at 1 group: the other three share its excess equally (water-filling).
  blocks[0].max_removed = 1;
  const Allocation a = allocate_uniform(blocks, options(AllocationMode::Uniform, 0.4), *comm);
  EXPECT_EQ(a.removed, (std::vector<int>{1, 5, 5, 5}));
  EXPECT_EQ(a.removed_params, a.budget);
}

// ---------------------------------------------------------------------------------------------
// Validation

using test::input_error;

// Parameters no unit removes (k / v under query_per_group) count in the total the budget is a share
// of, and in nothing else: every mode gives the allocation of the same blocks without them at the
// sparsity whose budget is the same number of parameters.
TEST(AllocationFixed, CountInTheBudgetOnly) {
  auto comm = make_self_communicator();
  for (int seed = 0; seed < 24; ++seed) {
    std::mt19937 rng(31000 + seed);
    std::vector<Block> blocks = model_like(rng, 2 + seed % 4, seed % 2 == 0, false), fixed = blocks;
    int64_t kept = 0;
    for (Block& b : fixed)
      if (b.module == 0) b.fixed_params = 2 * b.unit_params / 4, kept += b.fixed_params;
    const int64_t all = total_params(blocks) + kept;
    const double s = std::uniform_real_distribution<double>(0.1, 0.8)(rng);
    const int64_t budget = std::llround(s * double(all));
    const AllocationMode mode = std::array{AllocationMode::Global, AllocationMode::Admm, AllocationMode::Softmax,
                                           AllocationMode::Uniform}[size_t(seed % 4)];
    const Allocation a = allocate(fixed, options(mode, s, 0.5), *comm);
    const Allocation b = allocate(blocks, options(mode, sparsity_for(blocks, budget), 0.5), *comm);
    EXPECT_EQ(a.total_params, all) << "seed " << seed;
    EXPECT_EQ(a.budget, budget) << "seed " << seed;
    EXPECT_EQ(b.budget, budget) << "seed " << seed;
    EXPECT_EQ(a.removed, b.removed) << "seed " << seed << " mode " << to_string(mode);
    EXPECT_EQ(a.removed_params, removed_params(blocks, a.removed));
  }
}

TEST(AllocationValidation, NamesTheCulprit) {
  auto comm = make_self_communicator();
  std::mt19937 rng(13000);
  std::vector<Block> blocks = {make_block(rng, 7, 0, 8, 4, true), make_block(rng, 7, 1, 8, 4, true)};
  for (Block& b : blocks) b.max_removed = 4;
  const std::string range = input_error([&] { allocate(blocks, options(AllocationMode::Admm, 0.8, 1.0), *comm); });
  EXPECT_NE(range.find("prune.sparsity"), std::string::npos) << range;
  EXPECT_NE(range.find("prune.s_max"), std::string::npos) << range;
  EXPECT_NE(range.find("[0, 32]"), std::string::npos) << range;  // the reachable range in params
  blocks[0].min_removed = 3;
  EXPECT_NE(input_error([&] { allocate(blocks, options(AllocationMode::Global, 0.1), *comm); }).find("prune.s_min"),
            std::string::npos);
  blocks[0].min_removed = 0;

  std::vector<Block> bent = blocks;
  bent[1].cost[3] = bent[1].cost[2] - 1e-3;
  const std::string mono = input_error([&] { allocate(bent, options(AllocationMode::Global, 0.3), *comm); });
  EXPECT_NE(mono.find("layer 7 mlp"), std::string::npos) << mono;
  bent[1].cost[3] = bent[1].cost[2] * (1 - 1e-15);  // rounding-sized dips are accepted
  EXPECT_NO_THROW(allocate(bent, options(AllocationMode::Global, 0.3), *comm));

  std::vector<Block> bad = blocks;
  bad[0].cost.pop_back();
  EXPECT_NE(input_error([&] { allocate(bad, options(AllocationMode::Uniform, 0.3), *comm); }).find("layer 7 attention"),
            std::string::npos);
  bad = blocks;
  bad[0].cost[0] = 0.5;
  EXPECT_NE(input_error([&] { allocate(bad, options(AllocationMode::Uniform, 0.3), *comm); }).find("cost[0]"),
            std::string::npos);
  bad = blocks;
  bad[1].layer = 7, bad[1].module = 0;
  EXPECT_NE(input_error([&] { allocate(bad, options(AllocationMode::Uniform, 0.3), *comm); }).find("twice"),
            std::string::npos);

  for (double tau : {0.0, -1.0})
    EXPECT_NE(input_error([&] {
                allocate(blocks, options(AllocationMode::Softmax, 0.3, tau), *comm);
              }).find("prune.temperature"),
              std::string::npos);
  EXPECT_NE(
      input_error([&] { allocate(blocks, options(AllocationMode::Admm, 0.3, -1.0), *comm); }).find("prune.temperature"),
      std::string::npos);
  EXPECT_NE(input_error([&] {
              allocate_tempered_direct(blocks, options(AllocationMode::Admm, 0.3, -1.0), *comm);
            }).find("prune.temperature"),
            std::string::npos);
  EXPECT_NO_THROW(allocate(blocks, options(AllocationMode::Global, 0.3, -1.0), *comm));  // tau unused
  auto opt = options(AllocationMode::Admm, 0.3, 1.0);
  opt.rho = 0.0;
  EXPECT_NE(input_error([&] { allocate(blocks, opt, *comm); }).find("prune.admm.rho"), std::string::npos);
  EXPECT_NE(input_error([&] { allocate(blocks, options(AllocationMode::Global, 1.5), *comm); }).find("prune.sparsity"),
            std::string::npos);
}

// Budget at the ends of the reachable range: the bounds decide, every mode agrees.
TEST(AllocationValidation, EdgesOfTheRange) {
  auto comm = make_self_communicator();
  std::mt19937 rng(14000);
  std::vector<Block> blocks = model_like(rng, 3, true, false);
  for (auto mode : {AllocationMode::Uniform, AllocationMode::Global, AllocationMode::Softmax, AllocationMode::Admm}) {
    for (double s : {0.0, 1.0}) {
      const Allocation a = allocate(blocks, options(mode, s, 1.0), *comm);
      for (size_t b = 0; b < blocks.size(); ++b) EXPECT_EQ(a.removed[b], s == 0 ? 0 : blocks[b].n_units);
      EXPECT_TRUE(a.converged);
    }
  }
  EXPECT_STREQ(to_string(AllocationMode::Softmax), "softmax");
}

// ---------------------------------------------------------------------------------------------
// The same blocks over several ranks

// Logical ranks as threads sharing memory; collectives fold in rank order like MpiCommunicator.
class ThreadTeam {
 public:
  explicit ThreadTeam(int size) : slots_(size), barrier_(size) {}
  std::vector<std::string> exchange(int rank, const std::string& mine) {
    slots_[rank] = mine;
    barrier_.arrive_and_wait();
    std::vector<std::string> all = slots_;
    barrier_.arrive_and_wait();
    return all;
  }
  void wait() { barrier_.arrive_and_wait(); }
  int size() const { return static_cast<int>(slots_.size()); }

 private:
  std::vector<std::string> slots_;
  std::barrier<> barrier_;
};

class ThreadCommunicator final : public Communicator {
 public:
  ThreadCommunicator(ThreadTeam& team, int rank) : team_(team), rank_(rank) {}
  int rank() const override { return rank_; }
  int size() const override { return team_.size(); }
  std::string backend() const override { return "threads"; }
  void allreduce_sum(std::span<double> d) override {
    fold(d, [](double a, double b) { return a + b; });
  }
  void allreduce_sum(std::span<int64_t> d) override {
    fold(d, [](int64_t a, int64_t b) { return a + b; });
  }
  void allreduce_max(std::span<double> d) override {
    fold(d, [](double a, double b) { return std::max(a, b); });
  }
  void broadcast(std::span<uint8_t> d, int root) override {
    const auto all = team_.exchange(rank_, std::string(d.begin(), d.end()));
    std::memcpy(d.data(), all[root].data(), d.size());
  }
  std::vector<std::string> allgather(const std::string& mine) override { return team_.exchange(rank_, mine); }
  void barrier() override { team_.wait(); }
  [[noreturn]] void abort(int code) override { std::_Exit(code); }

 private:
  template <typename T, typename Op>
  void fold(std::span<T> d, Op op) {
    const auto all = team_.exchange(rank_, std::string(reinterpret_cast<const char*>(d.data()), d.size_bytes()));
    std::vector<T> acc(d.size()), part(d.size());
    std::memcpy(acc.data(), all[0].data(), d.size_bytes());
    for (size_t r = 1; r < all.size(); ++r) {
      std::memcpy(part.data(), all[r].data(), d.size_bytes());
      for (size_t i = 0; i < d.size(); ++i) acc[i] = op(acc[i], part[i]);
    }
    std::memcpy(d.data(), acc.data(), d.size_bytes());
  }
  ThreadTeam& team_;
  int rank_;
};

// Runs `fn(blocks of rank r, comm)` on every rank; returns each rank's result or error text.
struct RankResult {
  Allocation allocation;
  std::string error;
};
std::vector<RankResult> run_ranks(const std::vector<std::vector<Block>>& parts,
                                  const std::function<Allocation(const std::vector<Block>&, Communicator&)>& fn) {
  ThreadTeam team(static_cast<int>(parts.size()));
  std::vector<RankResult> out(parts.size());
  std::vector<std::thread> threads;
  for (size_t r = 0; r < parts.size(); ++r)
    threads.emplace_back([&, r] {
      ThreadCommunicator comm(team, static_cast<int>(r));
      try {
        out[r].allocation = fn(parts[r], comm);
      } catch (const std::exception& e) {
        out[r].error = e.what();
      }
    });
  for (auto& t : threads) t.join();
  return out;
}

TEST(AllocationSplit, AnySplitGivesTheSameBits) {
  auto one = make_self_communicator();
  for (int seed = 0; seed < 12; ++seed) {
    std::mt19937 rng(15000 + seed);
    const std::vector<Block> blocks = model_like(rng, 5, seed % 2 == 0, true);
    const double s = feasible_sparsity(rng, blocks);
    const int ranks = 2 + seed % 3;
    // A shuffled assignment: ranks hold arbitrary, unordered subsets (one may hold none).
    std::vector<int> owner(blocks.size()), order(blocks.size());
    for (int& o : owner) o = static_cast<int>(rng() % ranks);
    std::iota(order.begin(), order.end(), 0);
    std::shuffle(order.begin(), order.end(), rng);
    std::vector<std::vector<Block>> parts(ranks);
    std::vector<std::vector<int>> index(ranks);
    for (int b : order) parts[owner[b]].push_back(blocks[b]), index[owner[b]].push_back(b);
    for (auto mode : {AllocationMode::Uniform, AllocationMode::Global, AllocationMode::Softmax, AllocationMode::Admm}) {
      for (double tau : {0.0, 0.7}) {
        if (mode == AllocationMode::Softmax && tau == 0.0) continue;
        const auto opt = options(mode, s, tau);
        const Allocation ref = allocate(blocks, opt, *one);
        const auto res =
            run_ranks(parts, [&](const std::vector<Block>& mine, Communicator& c) { return allocate(mine, opt, c); });
        for (int r = 0; r < ranks; ++r) {
          ASSERT_EQ(res[r].error, "");
          const Allocation& a = res[r].allocation;
          for (size_t i = 0; i < index[r].size(); ++i)
            EXPECT_EQ(a.removed[i], ref.removed[index[r][i]]) << to_string(mode) << " seed " << seed;
          EXPECT_EQ(a.removed_params, ref.removed_params);
          EXPECT_EQ(a.lambda, ref.lambda) << to_string(mode) << " seed " << seed;  // bitwise
          EXPECT_EQ(a.iterations, ref.iterations);
          EXPECT_EQ(a.primal_residual, ref.primal_residual);
        }
      }
    }
  }
}

// One rank's bad block fails every rank with the same message (nobody waits in a collective).
TEST(AllocationSplit, AnErrorOnOneRankReachesAll) {
  std::mt19937 rng(16000);
  std::vector<std::vector<Block>> parts = {{make_block(rng, 0, 0, 6, 2, true)}, {make_block(rng, 1, 1, 6, 2, true)}};
  parts[1][0].cost[2] = -1.0;
  const auto res = run_ranks(parts, [](const std::vector<Block>& mine, Communicator& c) {
    return allocate(mine, options(AllocationMode::Admm, 0.5, 1.0), c);
  });
  for (const auto& r : res) EXPECT_NE(r.error.find("layer 1 mlp"), std::string::npos) << r.error;
}

// ---------------------------------------------------------------------------------------------
// Shape constraints: prune.round_to (MLP widths in multiples) and prune.uniform_shape

// Per layer an attention block of 8 heads (64 parameters each) and an MLP block of `neurons(l)`
// neurons (4 parameters each): fine enough that multiples of 8 neurons meet the budget closely.
std::vector<Block> shaped_model(std::mt19937& rng, int layers, const std::function<int(int)>& neurons) {
  std::vector<Block> blocks;
  for (int l = 0; l < layers; ++l) {
    blocks.push_back(make_block(rng, l, 0, 8, 64, true));
    blocks.push_back(make_block(rng, l, 1, neurons(l), 4, true));
  }
  return blocks;
}

AllocationOptions shaped(AllocationMode mode, double s, int round_to, bool uniform_shape, double tau = 0.0) {
  AllocationOptions o = options(mode, s, tau);
  o.round_to = round_to;
  o.uniform_shape = uniform_shape;
  return o;
}

TEST(AllocationRoundTo, WidthsAreMultiplesAndTheBudgetHolds) {
  auto comm = make_self_communicator();
  for (int seed = 0; seed < 24; ++seed) {
    std::mt19937 rng(17000 + seed);
    std::uniform_int_distribution<int> width(100, 200);
    std::vector<Block> blocks = shaped_model(rng, 8, [&](int) { return width(rng); });
    const int r = seed % 2 ? 8 : 16;
    const double s = std::uniform_real_distribution<double>(0.1, 0.8)(rng);
    for (auto mode : {AllocationMode::Uniform, AllocationMode::Global, AllocationMode::Softmax, AllocationMode::Admm}) {
      const Allocation a = allocate(blocks, shaped(mode, s, r, false, 0.5), *comm);
      expect_within_bounds(blocks, a);
      for (size_t b = 0; b < blocks.size(); ++b) {
        if (blocks[b].module == 1) {
          EXPECT_EQ((blocks[b].n_units - a.removed[b]) % r, 0) << to_string(mode) << " seed " << seed << " block " << b;
        }
      }
      EXPECT_EQ(a.budget, std::llround(s * double(total_params(blocks))));
      // Within half the largest allocation unit (a head, or r neurons) of the budget.
      EXPECT_LE(2 * std::llabs(a.removed_params - a.budget), std::max<int64_t>(64, 4 * r)) << to_string(mode);
      EXPECT_NEAR(double(a.removed_params) / double(a.total_params), s, 0.005);
    }
  }
}

// The global rule with round_to is still a Lagrangian solution on convex curves (sampled every r
// groups they stay convex): no allocation of widths that are multiples of round_to removing the
// same parameters costs less (brute force over all of them).
TEST(AllocationRoundTo, GlobalRuleIsOptimalAmongMultiples) {
  auto comm = make_self_communicator();
  int checked = 0;
  for (int seed = 0; seed < 20; ++seed) {
    std::mt19937 rng(18000 + seed);
    std::vector<Block> blocks;
    for (int l = 0; l < 2; ++l) {
      blocks.push_back(make_block(rng, l, 0, 3, 4, true));
      blocks.push_back(make_block(rng, l, 1, 190 + int(rng() % 20), 1, true));  // the hull is the curve
    }
    const int r = 4;
    int64_t best_total = -1;
    std::map<int64_t, double> best;  // removed params -> least cost, over allowed allocations
    std::vector<int> k(blocks.size(), 0);
    std::function<void(size_t)> walk = [&](size_t b) {
      if (b == blocks.size()) {
        const int64_t p = removed_params(blocks, k);
        const double c = removed_cost(blocks, k);
        if (!best.count(p) || c < best[p]) best[p] = c;
        return;
      }
      for (int x = 0; x <= blocks[b].n_units; ++x) {
        if (blocks[b].module == 1 && (blocks[b].n_units - x) % r != 0) continue;
        k[b] = x;
        walk(b + 1);
      }
    };
    walk(0);
    const double s = std::uniform_real_distribution<double>(0.2, 0.7)(rng);
    auto opt = shaped(AllocationMode::Global, s, r, false);
    Allocation a;
    try {
      a = allocate(blocks, opt, *comm);
    } catch (const InputError&) {  // too coarse for 0.005 on so small a model: skip this draw
      continue;
    }
    ++checked;
    best_total = a.removed_params;
    ASSERT_TRUE(best.count(best_total));
    EXPECT_NEAR(removed_cost(blocks, a.removed), best[best_total], 1e-9 * (1 + best[best_total])) << "seed " << seed;
  }
  EXPECT_GE(checked, 10);
}

TEST(AllocationUniformShape, EveryLayerTheSameShape) {
  auto comm = make_self_communicator();
  for (int seed = 0; seed < 16; ++seed) {
    std::mt19937 rng(19000 + seed);
    std::vector<Block> blocks = shaped_model(rng, 12, [](int) { return 640; });
    const double s = std::uniform_real_distribution<double>(0.1, 0.8)(rng);
    const int r = seed % 2 ? 1 : 4;  // merged units are 12 layers wide: r neurons must stay fine
    for (auto mode : {AllocationMode::Uniform, AllocationMode::Global, AllocationMode::Admm}) {
      const Allocation a = allocate(blocks, shaped(mode, s, r, true, 0.5), *comm);
      expect_within_bounds(blocks, a);
      for (size_t b = 2; b < blocks.size(); ++b) EXPECT_EQ(a.removed[b], a.removed[b % 2]) << to_string(mode);
      EXPECT_EQ((640 - a.removed[1]) % r, 0);
      EXPECT_NEAR(double(a.removed_params) / double(a.total_params), s, 0.005) << to_string(mode);
      if (mode == AllocationMode::Uniform) {  // each module near the target sparsity itself
        EXPECT_LE(std::fabs(a.removed[0] - s * 8), 0.5 + 1e-9);
        // The heads round to the nearest (half a head: 32 parameters per layer, 8 neurons), the
        // neurons absorb that in steps of r.
        EXPECT_LE(std::fabs(a.removed[1] - s * 640), 8.0 + r);
      }
    }
  }
}

TEST(AllocationShape, AnySplitGivesTheSameBits) {
  auto one = make_self_communicator();
  std::mt19937 rng(20000);
  const std::vector<Block> blocks = shaped_model(rng, 6, [](int) { return 150; });
  for (bool uniform_shape : {false, true}) {
    const auto opt = shaped(AllocationMode::Admm, 0.4, 8, uniform_shape, 0.5);
    const Allocation ref = allocate(blocks, opt, *one);
    std::vector<std::vector<Block>> parts(3);
    for (size_t b = 0; b < blocks.size(); ++b) parts[(b / 2) % 3].push_back(blocks[b]);
    const auto res =
        run_ranks(parts, [&](const std::vector<Block>& mine, Communicator& c) { return allocate(mine, opt, c); });
    for (size_t r = 0; r < parts.size(); ++r) {
      ASSERT_EQ(res[r].error, "");
      for (size_t i = 0; i < parts[r].size(); ++i) {
        const size_t g = 2 * (3 * (i / 2) + r) + i % 2;  // global index of rank r's i-th block
        EXPECT_EQ(res[r].allocation.removed[i], ref.removed[g]);
      }
      EXPECT_EQ(res[r].allocation.removed_params, ref.removed_params);
      EXPECT_EQ(res[r].allocation.lambda, ref.lambda);
    }
  }
}

TEST(AllocationShape, UnreachableIsNamed) {
  auto comm = make_self_communicator();
  std::mt19937 rng(21000);
  std::vector<Block> blocks = shaped_model(rng, 4, [](int l) { return 100 + 10 * l; });
  // Fewer neurons than one multiple.
  std::string e = input_error([&] { allocate(blocks, shaped(AllocationMode::Global, 0.3, 128, false), *comm); });
  EXPECT_NE(e.find("prune.round_to = 128"), std::string::npos) << e;
  EXPECT_NE(e.find("layer 0 mlp"), std::string::npos) << e;
  // Units too coarse to come within 0.005 of the target.
  e = input_error([&] { allocate(blocks, shaped(AllocationMode::Global, 0.3, 64, false), *comm); });
  EXPECT_NE(e.find("0.005"), std::string::npos) << e;
  EXPECT_NE(e.find("prune.round_to"), std::string::npos) << e;
  // A bound that no multiple meets: 100 neurons, multiples of 8 keep 96 or fewer; s_max 0.02 allows 2 removed.
  for (Block& b : blocks) b.max_removed = b.module == 1 ? 2 : b.n_units;
  e = input_error([&] { allocate(blocks, shaped(AllocationMode::Global, 0.1, 8, false), *comm); });
  EXPECT_NE(e.find("prune.s_max"), std::string::npos) << e;
  // The layers differ in shape: no common shape.
  for (Block& b : blocks) b.max_removed = b.n_units;
  e = input_error([&] { allocate(blocks, shaped(AllocationMode::Uniform, 0.3, 1, true), *comm); });
  EXPECT_NE(e.find("prune.uniform_shape"), std::string::npos) << e;
  EXPECT_NE(e.find("layer 1 mlp"), std::string::npos) << e;
}

}  // namespace
}  // namespace sp::prune
