#pragma once
// Where a prune run records what it finished and finds what an earlier attempt of the same run
// finished (persist/journal.h implements it on disk): pass 1 with the allocation, then each pass-2
// layer. The pipeline replays recorded layers bit for bit instead of pruning them again.
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "model/layer_weights.h"
#include "prune/allocation.h"
#include "prune/pipeline.h"

namespace sp::prune {

struct Pass1Record {
  Allocation allocation;
  std::vector<PerplexityRow> before;
  double pass1_seconds = 0, allocation_seconds = 0, eval_seconds = 0;
  // With prune.refine_rounds: what the refinement did and its phases' seconds (refine, refine.*), so
  // that a resumed run reports them as the uninterrupted run does.
  std::optional<RefineReport> refine;
  std::map<std::string, double> refine_seconds;
};

struct LayerRecord {
  LayerResult result;
  model::LayerWeights weights;          // output dtype (read: host views of the file, or on a device)
  bool added_bias[2] = {false, false};  // a bias the refit gave attention / the MLP
  // Roles left out of `weights` because a replay derives them from the dense layer and the keep
  // masks (the caller's promise: they are that selection, converted to the output dtype).
  std::vector<model::Role> derived;
};

class ProgressStore {
 public:
  virtual ~ProgressStore() = default;
  virtual const std::optional<Pass1Record>& pass1() const = 0;
  // Pass-2 layers recorded, 0 .. layers_done() - 1; every rank sees the same number.
  virtual int layers_done() const = 0;
  virtual LayerRecord layer(int l, ExecContext& ctx) const = 0;
  virtual void save_pass1(const Pass1Record& p) = 0;
  virtual void save_layer(const LayerRecord& r) = 0;  // layers in order
  // Whether replayed layer l is to be saved as well (a store that replays another's layers).
  virtual bool saves_replayed(int l) const { return false; }
  virtual void flush() = 0;                           // the last save is durable (or the store is off)
  virtual std::string path() const = 0;               // for errors
};

}  // namespace sp::prune
