#pragma once
// Internals shared by allocation.cpp (validation, closed forms, the exact greedy) and
// allocation_admm.cpp. Not part of the contract: tests go through allocation.h.
//
// How the result stays independent of the split of blocks over ranks: every global computation
// runs over ALL blocks in (layer, module) order (GlobalBlocks), on every rank, from per-block
// values that each block computes from its own data alone and that are allgathered. Sums are
// therefore folded in one fixed order, ties are broken by the same keys, and every rank holds
// the same global vectors; nothing goes through allreduce_sum of per-rank partial sums (whose
// rounding would depend on which blocks share a rank). Only int64 totals, which are exact, are
// summed in any order.
#include <cstdint>
#include <string>
#include <vector>

#include "core/communicator.h"
#include "prune/allocation.h"

namespace sp::prune::detail {

// What every rank knows about every block: sizes and bounds, not the curve.
struct BlockInfo {
  int layer = 0, module = 0;
  int64_t unit_params = 0;
  int n_units = 0, min_removed = 0, max_removed = 0;
  int64_t fixed_params = 0;
  int64_t params() const { return unit_params * n_units; }           // removable
  int64_t budget_params() const { return params() + fixed_params; }  // what the budget's total counts
};

// All blocks of all ranks, sorted by (layer, module); the same on every rank.
struct GlobalBlocks {
  std::vector<BlockInfo> info;
  std::vector<int> of_local;     // global index of this rank's block i
  std::vector<int> of_position;  // global index of the j-th block in rank-major gather order
  std::vector<int> rank_count;   // blocks per rank
  int64_t total_params = 0, min_params = 0, max_params = 0;  // total: removable and fixed
  int64_t budget = 0;                                        // B = llround(sparsity * total_params)

  int size() const { return static_cast<int>(info.size()); }
  // Every local block contributes one row (local order); every rank receives all rows in global
  // order. Rows may differ in length.
  std::vector<std::vector<double>> gather(const std::vector<std::vector<double>>& local_rows, Communicator& comm) const;
  // One value per local block -> one value per global block.
  std::vector<double> gather_scalar(const std::vector<double>& local_values, Communicator& comm) const;
};

// Checks the options common to every mode and the blocks of every rank, gathers their sizes and
// checks the budget. Any rank's error is thrown on every rank (after one allgather), so no rank
// is left waiting in a collective.
GlobalBlocks validate_and_gather(const std::vector<Block>& local, const AllocationOptions& opt, Communicator& comm);

// A block's lower convex hull at whole groups: slope[k] = hull cost of group k (k -> k+1), raw
// cost units, non-decreasing and >= 0; value[k] = sum of the first k slopes (value[0] = 0).
struct Hull {
  std::vector<double> slope, value;
};
Hull lower_hull(const std::vector<double>& cost);
std::vector<Hull> local_hulls(const std::vector<Block>& local);

// Continuous uniform allocation, removed parameters per global block: one common sparsity,
// clipped to the bounds by water-filling so that the sum is B.
std::vector<double> uniform_targets(const GlobalBlocks& gb);
// ... rounded to whole groups (floor, then largest remainders, the total nearest B).
std::vector<int> uniform_counts(const GlobalBlocks& gb);
// sigma: the hull cost per removed parameter under the uniform allocation (1 when undefined).
double cost_scale(const GlobalBlocks& gb, const std::vector<Hull>& hulls, const std::vector<int>& uniform,
                  Communicator& comm);
// Continuous softmax allocation, removed parameters per global block (sum = B).
std::vector<double> softmax_targets(const GlobalBlocks& gb, const std::vector<Hull>& hulls,
                                    const std::vector<int>& uniform, double sigma, double tau, Communicator& comm);

// Tempered marginal costs per parameter of all groups of one block, raw cost units:
// (slope[k] + tau_sigma * (phi(k+1) - phi(k))) / unit_params, made non-decreasing.
std::vector<double> tempered_marginals(const Hull& h, const Block& b, double tau_sigma);

// The exact greedy of allocate_tempered_direct, continued from `start` (groups per global block,
// >= min_removed): `start` must lie below the optimum (checked; otherwise it restarts from the
// bounds). Only the marginals after `start` cross the network, in windows that grow as needed.
struct Cut {
  std::vector<int> removed;  // per global block
  double lambda = 0.0;       // tempered marginal per parameter of the last group taken
};
Cut exact_greedy(const GlobalBlocks& gb, const std::vector<Block>& local, const std::vector<Hull>& hulls,
                 double tau_sigma, const std::vector<int>& start, Communicator& comm);

// Fills removed (local), budget and the global totals from an allocation of every block.
Allocation make_allocation(const GlobalBlocks& gb, const std::vector<int>& removed);

// opt.mode's allocation of the blocks as given (round_to / uniform_shape ignored).
Allocation allocate_mode(const std::vector<Block>& local, const AllocationOptions& opt, Communicator& comm);
// allocate() with round_to > 1 or uniform_shape (allocation_shape.cpp).
Allocation allocate_shaped(const std::vector<Block>& local, const AllocationOptions& opt, Communicator& comm);
// "layer 3 mlp", for messages.
std::string block_name(int layer, int module);

}  // namespace sp::prune::detail
