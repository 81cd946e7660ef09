#pragma once
// The run configuration: a typed Config and its schema, in ONE place. Every key of the YAML file
// has a schema entry (type, default, allowed values or range, one-line doc) in config_schema.cpp;
// the loader, the `--set` overrides, the docs test and the effective-config dump all read that
// table, so a key cannot exist in one and be missing from another.
//
// Rules: unknown keys are errors naming the file, the full key path and the nearest valid key;
// wrong types / out-of-range values are errors naming the key, the expected type and the value.
// Relative paths in the file resolve against the config file's folder; relative paths given with
// `--set` resolve against the current directory (where the user typed them).
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "core/context.h"
#include "core/dtype.h"
#include "dist/device_communicator.h"
#include "model/hidden_stream.h"
#include "persist/outputs.h"
#include "prune/groups.h"
#include "prune/options.h"
#include "tokenize/dataset.h"

namespace sp::cli {

// The config's own enums and their spellings; the library's enums are used as they are, spelled by
// the tables beside them (core/enum_names.h). A key that may be `auto` holds an std::optional
// (nullopt: auto).
using DataFormat = data::Format;  // auto, text, jsonl, wikitext, ids (tokenize/dataset.h)
using prune::AllocationMode;  // uniform, global, softmax, admm
using prune::AttentionUnit;   // heads, kv_groups, query_per_group, none (prune/groups.h)
using prune::Method;          // structprune, magnitude-sp, wanda-sp, flap, wanda-sp+ls, obs-sp+ls
using prune::Normalization;   // none, residual, output, standardize, kl
using prune::RefitTarget;     // pruned, dense
using prune::ScoreMetric;     // wanda, magnitude, wifv, obs
using dist::Collectives;        // auto, nccl, mpi (dist/device_communicator.h)
using persist::CheckpointForm;  // compact, dense, none (persist/outputs.h)
using sp::Precision;            // fp32, bf16, fp16 (core/context.h)
using sp::DeviceType;           // cpu, cuda (core/device.h)

inline constexpr const auto& kDataFormatNames = data::kFormatNames;
struct EvalDataset {
  std::string name;  // label in the report ("wikitext2", "heldout")
  std::string path;  // resolved file path
  DataFormat format = DataFormat::Auto;
  std::string text_field = "text";  // jsonl only
};

struct Config {
  struct Model {
    std::string path;            // Hugging Face folder
    std::string tokenizer;       // tokenizer.json or a folder holding one; "" = model.path
    std::optional<DType> dtype;  // auto: as stored
    bool synthetic;
    int64_t synthetic_seed;
  } model;
  struct Calibration {
    std::string path;
    DataFormat format;
    std::string text_field;
    int64_t nsamples;
    int64_t batch;   // windows per forward call
    int64_t seqlen;  // 0: min(2048, the model's max_position_embeddings)
    int64_t seed;
  } calibration;
  struct Prune {
    Method method;
    double sparsity;
    struct Structures {
      AttentionUnit attention;
      bool mlp;
    } structures;
    ScoreMetric metric;
    AllocationMode allocation;
    double temperature;
    double s_min, s_max;
    struct Admm {
      double rho;
      int64_t max_iters;
      double tol_primal, tol_dual;
    } admm;
    Normalization normalize;
    bool reconstruct;
    RefitTarget refit_target;
    bool refit_producers;
    bool bias_compensation;
    double damping;
    bool refit_prior_weights;  // prune.refit_prior: weights (true) or zero
    int64_t obs_step;
    bool gram_fp64;  // fp64 Gram products also for bf16 / fp16 activations
    int64_t probe_windows;
    bool probe_held_out;  // the probe windows are drawn after the statistics' windows, not among them
    int64_t refine_rounds;   // allocation refinement rounds (prune/refine.h); 0: off
    int64_t refine_windows;  // its held-out windows, drawn after the calibration and probe windows
    int64_t round_to;    // kept MLP widths are multiples of it
    bool uniform_shape;  // every layer keeps the same shape (a stock Hugging Face compact checkpoint)
  } prune;
  struct Runtime {
    std::optional<DeviceType> device;  // auto: cuda when a GPU is visible
    Precision precision;
    double memory_budget_gb;                        // 0: no budget
    std::optional<model::Residence> hidden_states;  // between forwards; auto: as the plan decides
    Collectives communicator;                       // the collectives of a multi-rank GPU run
    int64_t threads;                                // 0: all cores
    bool cuda_graphs;                               // generate / bench: the decode step as a CUDA graph
  } runtime;
  struct Output {
    std::string dir;
    std::string masks, report;  // file names inside dir
    std::string model_dir;      // folder name of the pruned checkpoint inside dir
    CheckpointForm checkpoint;
    std::optional<DType> dtype;  // dtype of the written weights (auto: the checkpoint's)
    double max_shard_gb;
    bool overwrite;
    bool journal;      // false: no .journal, and no --resume
    std::string gguf;  // none | f32 | f16 | bf16: also write output.dir/model.gguf (export's tensor type)
  } output;
  struct Eval {
    std::vector<EvalDataset> datasets;
    int64_t seqlen;       // 0: the model's max_position_embeddings
    int64_t max_windows;  // 0: all windows
    bool before;          // prune: also the dense model's perplexity
    int64_t batch;
  } eval;
  struct Bench {
    std::vector<int64_t> batch;   // windows decoded together
    std::vector<int64_t> prompt;  // prompt tokens per window (prefill)
    int64_t generate;             // decode steps after the prefill
    int64_t repeats, warmup;
    int64_t seed;
  } bench;
  struct Logging {
    std::string level;
    bool all_ranks;
  } logging;

  std::string source;     // the config file (absolute), "" when built from defaults only
  std::string effective;  // the resolved configuration as YAML (for reports and masks.h5)
};

// One parsed value handed to a key's setter (an Enum's in `s`, one of the key's choices).
struct ConfigValue {
  bool b = false;
  int64_t i = 0;
  double f = 0.0;
  std::string s;
  std::vector<EvalDataset> datasets;
  std::vector<int64_t> ints;  // IntList
};

enum class ValueKind { Bool, Int, Float, String, Path, Enum, DatasetList, IntList };

struct KeySpec {
  std::string path;  // full dotted path, e.g. "prune.admm.rho"
  ValueKind kind;
  std::string default_yaml;                 // default as YAML text
  std::vector<std::string> choices;         // Enum only, in the order of the C++ enum
  std::optional<double> min, max;           // Int / Float range (IntList: of every item)
  bool min_open = false, max_open = false;  // exclusive bounds
  std::string doc;
  std::function<void(Config&, const ConfigValue&)> set;
};

const std::vector<KeySpec>& config_schema();
// Sub-keys of one eval.datasets item, documented as "eval.datasets[].name" etc.
const std::vector<KeySpec>& dataset_item_schema();
// "bool", "int >= 1", "float in [0, 1)", "one of: a|b|c", ... for messages and docs.
std::string describe_type(const KeySpec& k);

Config default_config();
// Every key as Markdown tables, one per section ("### `prune`" ...), then the dataset item keys:
// the tables of docs/config.md, generated (struprune-dist --config-reference).
std::string config_reference_markdown();
// Loads a YAML file, then applies `--set key.path=value` overrides, then cross-key checks.
Config load_config(const std::string& yaml_path, const std::vector<std::string>& overrides = {});
// Same from YAML text; `label` names it in errors, `base_dir` resolves its relative paths.
Config load_config_text(const std::string& yaml_text, const std::string& label, const std::string& base_dir,
                        const std::vector<std::string>& overrides = {});

// Closest candidate by Levenshtein distance (ties: first in order); "" if candidates is empty.
std::string nearest_key(const std::string& key, const std::vector<std::string>& candidates);
size_t edit_distance(const std::string& a, const std::string& b);

// Enum names as written in YAML ("structprune", "kv_groups", ...).
const char* to_string(DataFormat v);

}  // namespace sp::cli
