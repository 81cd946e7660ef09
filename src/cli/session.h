#pragma once
// What every model-running subcommand sets up: the device for this rank, the model with its weight
// source, the tokenizer and the BOS id the reference protocols put in front.
#include <memory>

#include "cli/config_schema.h"
#include "core/context.h"
#include "model/model.h"
#include "tokenize/dataset.h"
#include "tokenize/tokenizer.h"

namespace sp::cli {

// This rank's device: the CPU for runtime.device cpu (or auto without a visible GPU), else GPU
// dist::gpu_for_rank(local_rank, visible GPUs), the rule the NCCL communicator and the plan share.
Device pick_device(const Config& cfg, int local_rank);
// Whether runtime.device resolves to the CPU here (pick_device's rule, without its GPU checks).
bool runs_on_cpu(const Config& cfg);
std::unique_ptr<model::WeightSource> open_source(const Config& cfg);

struct Loaded {
  std::unique_ptr<ExecContext> ctx;
  std::unique_ptr<model::Model> model;
  std::unique_ptr<tok::Tokenizer> tokenizer;  // null when none is there (ids-only data)
  int32_t bos = -1;
};
// Also sets the CPU kernels' thread count (runtime.threads).
Loaded load(const Config& cfg, int local_rank);

}  // namespace sp::cli
