#pragma once
// The data a subcommand reads, spelled once for eval, prune and tokenize: the tokenizer (none when
// every dataset is pre-tokenized ids and the model folder has no readable tokenizer), the BOS id the
// reference protocols put in front, and the DataSpec of each configured file (ids checked against
// the model's vocab_size).
#include <memory>

#include "cli/config_schema.h"
#include "io/model_config.h"
#include "tokenize/dataset.h"
#include "tokenize/tokenizer.h"

namespace sp::cli {

// model.tokenizer (a tokenizer.json, or a folder) or model.path; null when there is none there,
// or when it cannot be read and no configured data file needs one (a warning says why).
std::unique_ptr<tok::Tokenizer> load_tokenizer(const Config& cfg);
// The model's config.json names the BOS (OPT: </s>); else the tokenizer's; -1 without either.
int32_t bos_id(const io::ModelConfig& model, const tok::Tokenizer* tokenizer);

data::DataSpec eval_spec(const EvalDataset& d, const io::ModelConfig& model);
data::DataSpec calibration_spec(const Config& cfg, const io::ModelConfig& model);

// The evaluation windows of a dataset of n_ids tokens: whole windows of seqlen, at most
// eval.max_windows (0: all).
int64_t eval_window_count(const Config& cfg, size_t n_ids, int64_t seqlen);

// Whether the data needs a tokenizer: some file of `command` is not pre-tokenized ids.
bool data_needs_tokenizer(const Config& cfg, bool calibration, bool eval);

}  // namespace sp::cli
