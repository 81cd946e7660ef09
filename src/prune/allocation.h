#pragma once
// Budget allocation across blocks: how many groups each block (one module of one decoder layer)
// gives up so that the removed parameters meet one global budget. ../shared/SPEC.md section 3.
//
// Every block is described only by its removal curve: cost[k] = importance removed (or output
// error left) when its k cheapest groups go, in the order the block itself chose. Allocation
// never sees weights, so the blocks of one rank are enough to take part. Every global quantity
// goes through the Communicator as allgathered per-block values that every rank folds over ALL
// blocks in (layer, module) order, so the result (removed groups, lambda, residuals, iterations)
// is bitwise the same for any split of the blocks over ranks, and the same on every rank.
//
// The allocation problem, for a temperature tau >= 0 (costs normalised by sigma, allocation.cpp):
//   minimise   sum_b [ f_b(x_b) + tau * x_b (log(x_b / N_b) - 1) ]   subject to  sum_b x_b = B,
//   x_b = removed parameters of block b in [lo_b, hi_b], N_b = its prunable parameters, f_b the
//   lower convex hull of its curve. tau = 0 is the global closed-form rule (keep a group iff its
//   marginal cost per parameter exceeds the shared multiplier lambda); tau -> infinity is uniform
//   sparsity; for a linear f_b the solution is the softmax allocation x_b ~ N_b exp(-e_b / tau).
// Integer solutions: whole groups per block. The exact modes (global, tempered direct, ADMM's
// completion) take groups in increasing (tempered) marginal cost per parameter, ties broken by
// (layer, module, position), groups below min_removed first and none beyond max_removed, and keep
// the prefix whose removed total is nearest to B (ties to the smaller total). That prefix costs
// the least of all allocations removing the same total (a Lagrangian solution). With equal group
// sizes its total is the achievable one nearest to B; with mixed sizes (heads vs neurons) it is
// within half the largest group of B, but not necessarily the knapsack optimum for B itself.
// Every function validates its input; an InputError on any rank is thrown on every rank.
#include <cstdint>
#include <string>
#include <vector>

#include "core/communicator.h"
#include "core/enum_names.h"

namespace sp::prune {

struct Block {
  int layer = 0;
  int module = 0;            // 0: attention, 1: MLP (the tie-break key is (layer, module))
  int64_t unit_params = 0;   // parameters of one group (all groups of a block are equal), >= 1
  int n_units = 0;           // >= 1; (layer, module) must be unique over all ranks
  std::vector<double> cost;  // n_units + 1 values: cost[0] = 0, non-decreasing
  int min_removed = 0;       // bounds on removed groups (from s_min / s_max), 0 <= min <= max <= n
  int max_removed = 0;
  int64_t fixed_params = 0;  // kept whatever the allocation, counted in the budget's total (groups.h)
  int64_t params() const { return unit_params * n_units; }           // removable
  int64_t budget_params() const { return params() + fixed_params; }  // what the budget's total counts
};

enum class AllocationMode { Uniform, Global, Softmax, Admm };
inline constexpr EnumName<AllocationMode> kAllocationModeNames[] = {{AllocationMode::Uniform, "uniform"},
                                                                    {AllocationMode::Global, "global"},
                                                                    {AllocationMode::Softmax, "softmax"},
                                                                    {AllocationMode::Admm, "admm"}};
inline const char* to_string(AllocationMode m) { return enum_name<AllocationMode>(kAllocationModeNames, m); }

struct AllocationOptions {
  AllocationMode mode = AllocationMode::Admm;
  double sparsity = 0.5;     // target fraction of the prunable parameters of ALL blocks (fixed ones included)
  double temperature = 0.0;  // tau (softmax, admm); dimensionless, see allocation.cpp
  double rho = 1.0;          // ADMM penalty
  int max_iters = 200;
  double tol_primal = 1e-4, tol_dual = 1e-4;  // on ||.||_2 / L in units of the budget per block
  // Hardware-friendly widths (allocate() only): every MLP block (module 1) keeps a multiple of
  // round_to groups. The block is allocated in units of round_to groups (its curve sampled every
  // round_to), after removing n % round_to groups up front; 1: off.
  int round_to = 1;
  // One shape for every layer (allocate() only): each module's blocks are merged into one block
  // whose group is "one group of every layer" (curves summed in layer order), so every layer
  // removes the same count (the mode sets the attention count, the MLP takes the rest of the
  // budget to the nearest unit); the blocks of one module must then have equal sizes.
  bool uniform_shape = false;
};

struct Allocation {
  std::vector<int> removed;    // per local block, groups removed (the first removed[b] of its order)
  int64_t budget = 0;          // B = round(sparsity x total prunable parameters)
  int64_t removed_params = 0;  // global total actually removed
  int64_t total_params = 0;    // global prunable parameters
  // The shared multiplier in raw cost per parameter: global / tempered direct, the (tempered)
  // marginal cost of the last group taken (of the first one left when none was taken); ADMM, the
  // continuous dual -rho mean(u) sigma; uniform and softmax, 0 (they have none).
  double lambda = 0.0;
  int iterations = 0;  // ADMM iterations (0 for the closed forms and when the bounds decide)
  double primal_residual = 0.0, dual_residual = 0.0;  // ADMM's last residuals
  // ADMM met its tolerances. The integer allocation is the exact one either way (the completion
  // checks its start and falls back to the direct greedy); only its traffic depends on this.
  bool converged = true;
};

// Checks the blocks (curve sizes, monotonicity, bounds; InputError naming layer and module) and
// that the budget is reachable within the bounds (InputError naming prune.sparsity, s_min, s_max,
// and prune.round_to / prune.uniform_shape when those make it unreachable), then dispatches on
// opt.mode, through allocation_shape.cpp when round_to > 1 or uniform_shape. The budget is the
// same B = round(sparsity x total) either way. Collective: every rank calls it with its own blocks.
Allocation allocate(const std::vector<Block>& local, const AllocationOptions& opt, Communicator& comm);

// The pieces, exposed for tests and for the quality benches; they ignore round_to / uniform_shape. Uniform: one
// sparsity for all blocks (water-filled at the bounds), rounded by largest remainders. Softmax: SPEC's energy rule (tau
// > 0, else InputError naming prune.temperature). Global: tau = 0, ignores opt.temperature.
Allocation allocate_uniform(const std::vector<Block>& local, const AllocationOptions& opt, Communicator& comm);
Allocation allocate_global(const std::vector<Block>& local, const AllocationOptions& opt, Communicator& comm);
Allocation allocate_softmax(const std::vector<Block>& local, const AllocationOptions& opt, Communicator& comm);
Allocation allocate_admm(const std::vector<Block>& local, const AllocationOptions& opt, Communicator& comm);
// The integer solution of the tempered problem by a direct method (the greedy over the tempered
// marginal costs with the prefix rule above; exact because every block's objective is convex), the
// reference ADMM is tested against. tau = opt.temperature >= 0; tau = 0 is allocate_global, bit for bit.
Allocation allocate_tempered_direct(const std::vector<Block>& local, const AllocationOptions& opt, Communicator& comm);

// FLAP's rule: one global cut on the standardised group scores z (per block, in its removal
// order), each group counted as one unit whatever its size; removes the lowest groups while the
// removed parameters get nearer the budget. Every rank holds every block here (no collective).
Allocation flap_allocation(const std::vector<Block>& blocks, const std::vector<std::vector<double>>& z,
                           double sparsity);

}  // namespace sp::prune
