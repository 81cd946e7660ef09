#pragma once
// The dry-run plan: what a pruning run would do. make_plan reads only its arguments (Config,
// ModelConfig, rank count, evaluation windows): no weights, files or GPUs, so it is unit-testable
// and the same on every rank. Where the ranks compute is the caller's to add (set_placement), from
// the GPUs it sees.
#include <cstdint>
#include <string>
#include <vector>

#include "cli/config_schema.h"
#include "cli/memory_model.h"
#include "io/model_config.h"
#include "prune/groups.h"
#include "prune/options.h"

namespace sp::cli {

// One rank's share of the work: every rank streams every layer over its own calibration and
// evaluation windows (whole batches), and the statistics are summed over the ranks.
struct RankShard {
  int rank = 0;
  int calib_first = 0, calib_windows = 0;  // calibration windows [calib_first, + calib_windows)
  int eval_windows = 0;                    // evaluation windows, every dataset
  int probe_windows = 0;                   // normalize kl: probe windows
  int refine_windows = 0;                  // prune.refine_rounds > 0: the refinement's windows
  MemoryEstimate memory;                   // peak device memory (cli/memory_model.h)
  HostMemoryEstimate host;                 // peak host memory (rank 0 also holds the writers' buffers)
};

struct Plan {
  std::string model_type;
  int n_layers = 0, hidden = 0, heads = 0, kv_heads = 0, head_dim = 0, intermediate = 0, vocab = 0;
  bool uniform = true;
  int64_t total_params = 0;
  std::vector<prune::LayerGroups> layers;
  int64_t prunable_params = 0;
  int64_t target_remove = 0;  // round(sparsity x prunable_params)
  int64_t calib_seqlen = 0, eval_seqlen = 0;
  int compute_bytes = 4;
  double budget_bytes = 0;   // 0: no budget
  int calib_batch = 1;       // windows per forward: calibration.batch, halved until a budget fits
  bool host_states = false;  // hidden states in host memory (runtime.hidden_states, or a budget's last resort)
  // Disk under output.dir at the end of a prune (rank 0 writes both): the pruned checkpoint and the
  // resume journal, which holds every pruned layer until the outputs are final.
  int64_t disk_checkpoint = 0, disk_journal = 0;
  std::vector<RankShard> shards;
  std::vector<std::string> warnings;
  // Where the ranks compute, filled in by the caller from dist::place_ranks (make_plan leaves the
  // defaults): the same on every rank.
  int ranks_per_gpu = 0;             // the most ranks of the job on one GPU; 0: they compute on CPUs
  std::string collectives = "self";  // how the statistics are summed: self (one rank), mpi or nccl

  // Ranks on the busiest node (the MPI local size; the caller sets it, 1 by default): the node's host
  // memory is theirs, the checkpoint's mapped pages counted once (the page cache is shared).
  int ranks_per_node = 1;

  const RankShard& peak_shard() const;       // the rank with the largest memory estimate
  const RankShard& peak_host_shard() const;  // the rank with the largest host memory estimate
  int64_t host_per_node() const;             // ranks_per_node x the largest rank's, mapped pages once
};

// The window lengths a run uses: the configured seqlen, checked against the model's context; 0 means
// 2048 (calibration) or the whole context (evaluation), capped by the context.
int64_t calibration_seqlen(const Config& cfg, const io::ModelConfig& model);
int64_t evaluation_seqlen(const Config& cfg, const io::ModelConfig& model);

// The KL probe's own windows, drawn after the calibration windows: prune.probe_windows with
// prune.probe_held_out and normalize kl, else 0 (the probe reads the first calibration windows).
int64_t held_out_probe_windows(const Config& cfg);
// The allocation refinement's windows, drawn after those: prune.refine_windows when
// prune.refine_rounds > 0, else 0.
int64_t refine_windows(const Config& cfg);

// The dtype of the written weights: output.dtype, or the checkpoint's (F64 written as F32).
DType output_dtype(const Config& cfg, const io::ModelConfig& model);

// Throws InputError when `free_bytes` (what output.dir's filesystem has free) cannot hold what the
// run has still to write: the plan's checkpoint and journal, less `already` bytes on disk that count
// towards them (a resumed run's journal and the temporary checkpoint it replaces), naming output.dir,
// the sizes and what would make the run fit.
void check_disk(const Config& cfg, const Plan& p, int64_t free_bytes, int64_t already = 0);

// The pipeline's options from the config's prune section.
prune::PruneOptions prune_options(const Config& cfg);

// Throws InputError when the config does not fit the model (attention unit vs GQA, seqlen over the
// context) or a rank's estimate exceeds runtime.memory_budget_gb even with one window per forward
// (the batch is halved from calibration.batch until it fits). eval_windows: the evaluation
// windows of each dataset (the caller tokenized them); empty: eval.max_windows each, or none.
Plan make_plan(const Config& cfg, const io::ModelConfig& model, int n_ranks, const std::vector<int>& eval_windows = {});
std::string format_plan(const Plan& p);
// Records the placement in the plan: the collectives (dist::choose_collectives on
// runtime.communicator) and, when ranks share a GPU, a note that their device memory adds up there.
void set_placement(Plan& p, const Config& cfg, int n_ranks, bool on_gpu, int ranks_per_gpu);

}  // namespace sp::cli
