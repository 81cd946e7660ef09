#pragma once
// The allocation refined on the model's output (prune.refine_rounds > 0). The removal curves price
// each block alone on the dense model; the pruned model's loss is not additive over blocks (a layer
// whose input was already damaged by earlier pruning reacts differently). Starting from the curves'
// allocation, each round:
//   measure  a pass-2 pass at the current allocation (true sequential, writes nothing) that also
//            cuts every block one step either side of its level from the same statistics, and
//            follows held-out windows (prune.refine_windows, drawn after the calibration and probe
//            windows) through the pruned model and, per block and side, through the model with
//            only that block moved: KL divergence to the dense model of the pruned model and of
//            every one-block move, i.e. each block's marginal cost and saving at the operating point
//            with every other block's pruning in place, per window;
//   propose  exchanges that keep the budget: one step given back to the block whose restoration
//            saves the most KL per parameter, one step taken from the block that costs the least,
//            while the saving exceeds the cost by more than its standard error over the windows;
//   search   prefixes of the exchanges (all, half, a quarter, ..., one) assembled from the stored
//            variants (later layers as refit for the current allocation) and evaluated together on
//            the held-out windows; the best, if clearly below the current KL, is measured by the
//            next round's pass (true sequential: every later layer re-chosen and refit on its new
//            inputs) and kept only if that measurement is clearly below the best so far.
// "Clearly below": by more than the standard error of the paired per-window differences. Steps: one
// group of the largest size (an attention unit) in parameters, so that an exchange between any two
// blocks keeps the budget to within one MLP group. Ranks split the held-out windows; per-window
// values are gathered in window order (the same bits for any rank count), so every rank takes the
// same decisions. Cost: up to rounds + 1 measurement passes, each a pass 2 plus two one-block
// copies of the held-out windows per block through the later layers.
#include <memory>
#include <vector>

#include "prune/allocation.h"
#include "prune/refine_report.h"
#include "prune/module_pruner.h"
#include "prune/progress_store.h"
#include "prune/rank_windows.h"
#include "prune/removal_curves.h"
#include "prune/run_context.h"

namespace sp::prune {

// The refined allocation (start when refinement finds nothing better); report receives each round,
// `layers` the pruned layers at the returned allocation, exactly as pass 2 would prune them (the
// measurement pass that verified it). Collective. The phases' seconds go to rc's clock as refine.*.
Allocation refine_allocation(RunContext& rc, const RunSetup& in, const RankWindows& win, const Blocks& blocks,
                             ModulePruner& pruner, const Allocation& start, RefineReport& report,
                             std::vector<LayerRecord>& layers);

// A progress store that replays `layers` as pass 2 (no layer pruned again) and passes pass 1 and
// the layers on to `journal` (may be null).
std::unique_ptr<ProgressStore> replay_store(std::vector<LayerRecord> layers, ProgressStore* journal);

}  // namespace sp::prune
