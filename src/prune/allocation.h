#pragma once
// Budget allocation across blocks: how many groups each block (one module of one decoder layer)
// gives up so that the removed parameters meet one global budget. ../shared/SPEC.md section 3.
//
// Every block is described only by its removal curve: cost[k] = importance removed (or output
// error left) when its k cheapest groups go, in the order the block itself chose. Allocation
// never sees weights, so the blocks of one rank are enough to take part: every global quantity
// (sums over blocks, the multiplier) goes through the Communicator, and the result does not depend
// on how blocks are spread over ranks.
//
// The allocation problem, for a temperature tau >= 0 (costs normalised, see Block::cost):
//   minimise   sum_b [ f_b(x_b) + tau * x_b (log(x_b / N_b) - 1) ]   subject to  sum_b x_b = B,
//   x_b = removed parameters of block b in [lo_b, hi_b], N_b = its prunable parameters, f_b the
//   lower convex hull of its curve. tau = 0 is the global closed-form rule (keep a group iff its
//   marginal cost per parameter exceeds the shared multiplier lambda); tau -> infinity is uniform
//   sparsity; for a linear f_b the solution is the softmax allocation x_b ~ N_b exp(-e_b / tau).
// Integer solutions: whole groups per block; the budget is met as nearly as group sizes allow
// (the removed total is the achievable one nearest to B; ties to the smaller total), ties between
// equal marginal costs broken by (block key, position) so every rank and run agrees.
#include <cstdint>
#include <string>
#include <vector>

#include "core/communicator.h"

namespace sp::prune {

struct Block {
  int layer = 0;
  int module = 0;               // 0: attention, 1: MLP (the tie-break key is (layer, module))
  int64_t unit_params = 0;      // parameters of one group (all groups of a block are equal)
  int n_units = 0;
  std::vector<double> cost;     // n_units + 1 values: cost[0] = 0, non-decreasing
  int min_removed = 0;          // bounds on removed groups (from s_min / s_max), 0 <= min <= max <= n
  int max_removed = 0;
  int64_t params() const { return unit_params * n_units; }
};

enum class AllocationMode { Uniform, Global, Softmax, Admm };

struct AllocationOptions {
  AllocationMode mode = AllocationMode::Admm;
  double sparsity = 0.5;        // target fraction of the prunable parameters of ALL blocks
  double temperature = 0.0;     // tau (softmax, admm); dimensionless, see allocation.cpp
  double rho = 1.0;             // ADMM penalty
  int max_iters = 200;
  double tol_primal = 1e-4, tol_dual = 1e-4;  // relative to the budget
};

struct Allocation {
  std::vector<int> removed;     // per local block, groups removed (the first removed[b] of its order)
  int64_t budget = 0;           // B = round(sparsity x total prunable parameters)
  int64_t removed_params = 0;   // global total actually removed
  int64_t total_params = 0;     // global prunable parameters
  double lambda = 0.0;          // the shared multiplier (marginal cost per parameter at the cut)
  int iterations = 0;           // ADMM iterations (0 for the closed forms)
  double primal_residual = 0.0, dual_residual = 0.0;
  bool converged = true;
};

// Checks the blocks (curve sizes, monotonicity, bounds; InputError naming layer and module) and
// that the budget is reachable within the bounds (InputError naming prune.sparsity, s_min, s_max).
Allocation allocate(const std::vector<Block>& local, const AllocationOptions& opt, Communicator& comm);

// The pieces, exposed for tests and for the quality benches.
Allocation allocate_uniform(const std::vector<Block>& local, const AllocationOptions& opt, Communicator& comm);
Allocation allocate_global(const std::vector<Block>& local, const AllocationOptions& opt, Communicator& comm);
Allocation allocate_softmax(const std::vector<Block>& local, const AllocationOptions& opt, Communicator& comm);
Allocation allocate_admm(const std::vector<Block>& local, const AllocationOptions& opt, Communicator& comm);
// The exact integer optimum of the tempered problem by a direct method (global greedy over the
// tempered marginal costs), the reference ADMM is tested against.
Allocation allocate_tempered_direct(const std::vector<Block>& local, const AllocationOptions& opt,
                                    Communicator& comm);

const char* to_string(AllocationMode m);

}  // namespace sp::prune
