#pragma once
// The dry-run plan: what a pruning run would do, computed without touching weights. A pure
// function of (Config, ModelConfig, number of ranks), so it is unit-testable and the same on
// every rank.
#include <cstdint>
#include <string>
#include <vector>

#include "cli/config_schema.h"
#include "io/model_config.h"
#include "prune/groups.h"

namespace sp::cli {

// Peak device memory of one rank, in bytes; the terms follow the streaming design (SPEC section 3).
struct MemoryEstimate {
  int64_t layer_weights = 0;    // the largest owned layer, compute dtype
  int64_t hidden_states = 0;    // nsamples x seqlen x hidden x bytes, inputs and outputs (x2)
  int64_t gram = 0;             // the largest Gram matrix, F64 (d_ff^2 for the MLP)
  int64_t logits = 0;           // one window's logits, seqlen x vocab fp32 (evaluation)
  bool hidden_on_host = false;  // spilled to host memory to meet the budget
  int64_t device_total() const { return layer_weights + (hidden_on_host ? 0 : hidden_states) + gram + logits; }
};

struct RankShard {
  int rank = 0;
  int first_layer = 0;  // contiguous [first_layer, first_layer + n_layers)
  int n_layers = 0;
  MemoryEstimate memory;
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
  double budget_bytes = 0;  // 0: no budget
  std::vector<RankShard> shards;
  std::vector<std::string> warnings;
};

// Throws InputError when the config does not fit the model (attention unit vs GQA, seqlen over the
// context) or a rank's estimate exceeds runtime.memory_budget_gb even after spilling.
Plan make_plan(const Config& cfg, const io::ModelConfig& model, int n_ranks);
std::string format_plan(const Plan& p);

}  // namespace sp::cli
