// The schema table: every configuration key, its type, default, allowed values and doc.
// Loading and validation live in config_load.cpp; this file is the single source of truth.
#include "cli/config_schema.h"

#include <fmt/format.h>

#include <algorithm>
#include <span>
#include <type_traits>

namespace sp::cli {
namespace {

using V = const ConfigValue&;
// Plain string values chosen from a list (kept as the string).
const std::vector<std::string> kGguf = {"none", "f32", "f16", "bf16"};
const std::vector<std::string> kLevels = {"trace", "debug", "info", "warn", "error", "off"};

// Shorthands for table rows; ranges are std::optional<double>.
constexpr std::optional<double> kNone = std::nullopt;
// Upper bounds of the integer keys (issue 25): every key's users hold its whole range (they take
// int, the seeds uint64), so no value is cut short on the way. Integer bounds stay within 2^53,
// where a double holds them exactly (the loader compares them as integers).
constexpr double kMaxInt = 2147483647.0;         // 2^31 - 1: a count its users keep in an int
constexpr double kMaxWindows = 1048576.0;        // 2^20 windows (calibration, probes, batches)
constexpr double kMaxTokens = 1048576.0;         // 2^20 tokens per window
constexpr double kMaxGroups = 1048576.0;         // 2^20 groups (neurons, heads)
constexpr double kMaxIterations = 1000000.0;     // iteration and repeat counts
constexpr double kMaxThreads = 65536.0;          // CPU threads per rank
constexpr double kMaxSeed = 9007199254740992.0;  // 2^53
constexpr double kMaxGiB = 1048576.0;            // 1 PiB in GiB: bytes = GiB x 2^30 stays below 2^50

KeySpec key(std::string path, ValueKind kind, std::string def, std::string doc, std::function<void(Config&, V)> set) {
  KeySpec k;
  k.path = std::move(path);
  k.kind = kind;
  k.default_yaml = std::move(def);
  k.doc = std::move(doc);
  k.set = std::move(set);
  return k;
}
KeySpec ranged(KeySpec k, std::optional<double> min, std::optional<double> max, bool min_open = false,
               bool max_open = false) {
  k.min = min;
  k.max = max;
  k.min_open = min_open;
  k.max_open = max_open;
  return k;
}
KeySpec choice(KeySpec k, const std::vector<std::string>& choices) {
  k.choices = choices;
  return k;
}
// An Enum key over an enum's spelling table: its names are the choices, a value is found by name.
template <class E, size_t N>
KeySpec enum_key(std::string path, std::string def, std::string doc, const EnumName<E> (&table)[N],
                 void (*set)(Config&, std::type_identity_t<E>)) {
  const EnumTable<E> t(table);
  KeySpec k = key(std::move(path), ValueKind::Enum, std::move(def), std::move(doc),
                  [t, set](Config& c, V v) { set(c, *enum_from(t, v.s)); });
  k.choices = enum_names(t);
  return k;
}
// The same with `auto` (the default) first: the setter gets nullopt for it.
template <class E, size_t N>
KeySpec auto_enum_key(std::string path, std::string doc, const EnumName<E> (&table)[N],
                      void (*set)(Config&, std::optional<std::type_identity_t<E>>)) {
  const EnumTable<E> t(table);
  KeySpec k = key(std::move(path), ValueKind::Enum, "auto", std::move(doc),
                  [t, set](Config& c, V v) { set(c, v.s == "auto" ? std::nullopt : enum_from(t, v.s)); });
  k.choices = enum_names(t);
  k.choices.insert(k.choices.begin(), "auto");
  return k;
}

std::vector<KeySpec> build_schema() {
  using K = ValueKind;
  std::vector<KeySpec> s;
  // ---- model
  s.push_back(key("model.path", K::Path, "\"\"", "Hugging Face model folder (config.json, safetensors, tokenizer.json)",
                  [](Config& c, V v) { c.model.path = v.s; }));
  s.push_back(key("model.tokenizer", K::Path, "\"\"",
                  "tokenizer.json file, or a folder with one (or llama2.c vocab.json); empty: model.path",
                  [](Config& c, V v) { c.model.tokenizer = v.s; }));
  s.push_back(auto_enum_key("model.dtype", "dtype the checkpoint is expected in (auto: as stored)", kWeightDTypeNames,
                            [](Config& c, std::optional<DType> v) { c.model.dtype = v; }));
  s.push_back(key("model.synthetic", K::Bool, "false",
                  "use random weights with the shape of model.path/config.json (no safetensors read)",
                  [](Config& c, V v) { c.model.synthetic = v.b; }));
  s.push_back(ranged(key("model.synthetic_seed", K::Int, "0", "seed of the synthetic weights",
                         [](Config& c, V v) { c.model.synthetic_seed = v.i; }),
                     0, kMaxSeed));
  // ---- calibration
  s.push_back(key("calibration.path", K::Path, "\"\"", "calibration data file (required by prune)",
                  [](Config& c, V v) { c.calibration.path = v.s; }));
  s.push_back(enum_key("calibration.format", "auto",
                       "text, jsonl (C4 style), wikitext (raw file) or ids (pre-tokenized); auto: by extension",
                       kDataFormatNames, [](Config& c, DataFormat v) { c.calibration.format = v; }));
  s.push_back(key("calibration.text_field", K::String, "text", "JSON field holding the text (jsonl only)",
                  [](Config& c, V v) { c.calibration.text_field = v.s; }));
  s.push_back(ranged(key("calibration.nsamples", K::Int, "128", "number of random calibration windows",
                         [](Config& c, V v) { c.calibration.nsamples = v.i; }),
                     1, kMaxWindows));
  s.push_back(ranged(key("calibration.batch", K::Int, "8", "calibration windows per forward call",
                         [](Config& c, V v) { c.calibration.batch = v.i; }),
                     1, kMaxWindows));
  s.push_back(ranged(
      key("calibration.seqlen", K::Int, "0", "tokens per window; 0: min(2048, the model's max_position_embeddings)",
          [](Config& c, V v) { c.calibration.seqlen = v.i; }),
      0, kMaxTokens));
  s.push_back(
      ranged(key("calibration.seed", K::Int, "0", "seed of the window sampler (same windows for any rank count)",
                 [](Config& c, V v) { c.calibration.seed = v.i; }),
             0, kMaxSeed));
  // ---- prune
  s.push_back(
      enum_key("prune.method", "structprune",
               "pruning method: structprune (the configured metric, allocation and refit), or a baseline with its "
               "published recipe: magnitude-sp, wanda-sp, flap, wanda-sp+ls, obs-sp+ls",
               prune::kMethodNames, [](Config& c, Method v) { c.prune.method = v; }));
  s.push_back(ranged(key("prune.sparsity", K::Float, "0.5",
                         "target fraction of the pruned projections' parameters to remove (q, k, v, o; MLP)",
                         [](Config& c, V v) { c.prune.sparsity = v.f; }),
                     0.0, 1.0, false, true));
  s.push_back(enum_key("prune.structures.attention", "kv_groups",
                       "attention unit: heads (MHA), kv_groups (a KV head with its queries), "
                       "query_per_group (one query head per KV group), none",
                       prune::kAttentionUnitNames,
                       [](Config& c, AttentionUnit v) { c.prune.structures.attention = v; }));
  s.push_back(key("prune.structures.mlp", K::Bool, "true", "prune MLP neurons",
                  [](Config& c, V v) { c.prune.structures.mlp = v.b; }));
  s.push_back(enum_key("prune.metric", "obs",
                       "group importance: obs (output error left after the least-squares refit), wanda "
                       "(|W| * ||X||), magnitude, wifv (FLAP's fluctuation)",
                       prune::kScoreMetricNames, [](Config& c, ScoreMetric v) { c.prune.metric = v; }));
  s.push_back(enum_key("prune.normalize", "kl",
                       "scale of the removal curves across layers: residual (error relative to the residual "
                       "stream's energy), kl (calibrated to the measured KL divergence of the model's "
                       "predictions), output (relative to the module's output), none, standardize (FLAP)",
                       prune::kNormalizationNames, [](Config& c, Normalization v) { c.prune.normalize = v; }));
  s.push_back(enum_key("prune.allocation", "admm", "per-layer sparsity allocation", prune::kAllocationModeNames,
                       [](Config& c, AllocationMode v) { c.prune.allocation = v; }));
  s.push_back(ranged(key("prune.temperature", K::Float, "0.5",
                         "allocation temperature tau (admm, softmax): 0 = the global rule (admm), large = uniform",
                         [](Config& c, V v) { c.prune.temperature = v.f; }),
                     0.0, kNone));
  s.push_back(ranged(
      key("prune.s_min", K::Float, "0.0", "lowest sparsity of any layer", [](Config& c, V v) { c.prune.s_min = v.f; }),
      0.0, 1.0, false, true));
  s.push_back(ranged(key("prune.s_max", K::Float, "0.95", "highest sparsity of any layer",
                         [](Config& c, V v) { c.prune.s_max = v.f; }),
                     0.0, 1.0, false, false));
  s.push_back(
      ranged(key("prune.admm.rho", K::Float, "1.0", "ADMM penalty rho", [](Config& c, V v) { c.prune.admm.rho = v.f; }),
             0.0, kNone, true));
  s.push_back(ranged(key("prune.admm.max_iters", K::Int, "200", "ADMM iteration limit",
                         [](Config& c, V v) { c.prune.admm.max_iters = v.i; }),
                     1, kMaxIterations));
  s.push_back(ranged(key("prune.admm.tol_primal", K::Float, "1e-4", "ADMM primal residual tolerance (relative)",
                         [](Config& c, V v) { c.prune.admm.tol_primal = v.f; }),
                     0.0, kNone, true));
  s.push_back(ranged(key("prune.admm.tol_dual", K::Float, "1e-4", "ADMM dual residual tolerance (relative)",
                         [](Config& c, V v) { c.prune.admm.tol_dual = v.f; }),
                     0.0, kNone, true));
  s.push_back(key("prune.reconstruct", K::Bool, "true", "refit o_proj / down_proj by least squares after pruning",
                  [](Config& c, V v) { c.prune.reconstruct = v.b; }));
  s.push_back(enum_key("prune.refit_target", "pruned",
                       "least-squares target: dense (the unpruned model's module output) or pruned (the module's "
                       "own output on the pruned model's inputs)",
                       prune::kRefitTargetNames, [](Config& c, RefitTarget v) { c.prune.refit_target = v; }));
  s.push_back(key("prune.refit_producers", K::Bool, "false",
                  "refit_target dense: also refit q/k/v and gate/up (fc1) on the pruned model's inputs towards "
                  "the dense model's pre-activations",
                  [](Config& c, V v) { c.prune.refit_producers = v.b; }));
  s.push_back(key("prune.bias_compensation", K::Bool, "false",
                  "add the removed channels' mean contribution to the consumer's bias (FLAP)",
                  [](Config& c, V v) { c.prune.bias_compensation = v.b; }));
  s.push_back(choice(key("prune.refit_prior", K::Enum, "weights",
                         "what the refit's damping pulls towards: weights (the original weights, as OBS / "
                         "SparseGPT) or zero (plain ridge regression)",
                         [](Config& c, V v) { c.prune.refit_prior_weights = v.s == "weights"; }),
                     {"weights", "zero"}));
  s.push_back(ranged(key("prune.damping", K::Float, "0.01", "reconstruction damping, fraction of mean(diag H)",
                         [](Config& c, V v) { c.prune.damping = v.f; }),
                     0.0, kNone, true));
  s.push_back(ranged(key("prune.probe_windows", K::Int, "2",
                         "normalize kl: calibration windows on which each block's effect on the output is measured",
                         [](Config& c, V v) { c.prune.probe_windows = v.i; }),
                     1, kMaxWindows));
  s.push_back(key("prune.probe_held_out", K::Bool, "false",
                  "normalize kl: draw the probe windows after the calibration.nsamples windows (same seed) and keep "
                  "them out of the statistics, so that each block's effect is measured out of sample (false: the "
                  "first probe_windows calibration windows)",
                  [](Config& c, V v) { c.prune.probe_held_out = v.b; }));
  s.push_back(ranged(key("prune.refine_rounds", K::Int, "0",
                         "rounds of the allocation refinement: the pruned model's KL divergence to the dense model "
                         "is measured on held-out windows with each block moved one step either way, budget-keeping "
                         "exchanges of steps are searched on it, and the result is kept only if a true-sequential "
                         "measurement confirms it (docs/algorithm.md); 0: off",
                         [](Config& c, V v) { c.prune.refine_rounds = v.i; }),
                     0, 16));
  s.push_back(ranged(key("prune.refine_windows", K::Int, "8",
                         "windows of calibration.seqlen tokens, drawn after the calibration (and held-out probe) "
                         "windows with the same seed, on which the refinement measures the KL divergence (at "
                         "least 4: its decisions weigh gains against their standard error over the windows)",
                         [](Config& c, V v) { c.prune.refine_windows = v.i; }),
                     4, kMaxWindows));
  s.push_back(key("prune.gram_fp64", K::Bool, "false",
                  "Gram products in fp64 also for bf16 / fp16 activations (default: tensor-core products of the "
                  "exact bf16 / fp16 values, summed in fp32 within a batch; fp32 activations always use fp64)",
                  [](Config& c, V v) { c.prune.gram_fp64 = v.b; }));
  s.push_back(ranged(
      key("prune.obs_step", K::Int, "0", "groups removed per OBS update (1: exact greedy); 0: automatic, about n/256",
          [](Config& c, V v) { c.prune.obs_step = v.i; }),
      0, kMaxGroups));
  s.push_back(ranged(key("prune.round_to", K::Int, "1",
                         "hardware-friendly widths: every kept MLP width (intermediate size) is a multiple of it "
                         "(e.g. 8, 64, 128); the budget still holds, within 0.005 of prune.sparsity, else an error",
                         [](Config& c, V v) { c.prune.round_to = v.i; }),
                     1, kMaxGroups));
  s.push_back(key("prune.uniform_shape", K::Bool, "false",
                  "every layer keeps the same number of heads / KV groups and neurons, so the compact checkpoint is "
                  "a stock Hugging Face one (no struprune_layers); with allocation uniform each module loses the "
                  "target sparsity, with the other modes the curves summed over layers set the attention count and "
                  "the MLP takes the rest",
                  [](Config& c, V v) { c.prune.uniform_shape = v.b; }));
  // ---- runtime
  s.push_back(auto_enum_key("runtime.device", "where to compute (auto: cuda when a GPU is visible)", kDeviceTypeNames,
                            [](Config& c, std::optional<DeviceType> v) { c.runtime.device = v; }));
  s.push_back(enum_key("runtime.precision", "fp32", "compute dtype of weights and activations", kPrecisionNames,
                       [](Config& c, Precision v) { c.runtime.precision = v; }));
  s.push_back(ranged(
      key("runtime.memory_budget_gb", K::Float, "0",
          "device memory per rank in GiB (the --dry-run estimate): calibration.batch is halved until every rank fits, "
          "then (runtime.hidden_states auto) the hidden states move to host memory, else the run is refused; "
          "0: no budget",
          [](Config& c, V v) { c.runtime.memory_budget_gb = v.f; }),
      0.0, kMaxGiB));
  s.push_back(auto_enum_key("runtime.hidden_states",
                            "where the calibration and evaluation hidden states (and the KL probes' copies) live "
                            "between layers: device, or host "
                            "memory (page-locked; a batch is uploaded for each forward and downloaded after it: device "
                            "memory for one batch, at the cost of the copies); auto: device, host only when "
                            "runtime.memory_budget_gb cannot hold them in batches of one window",
                            model::kResidenceNames,
                            [](Config& c, std::optional<model::Residence> v) { c.runtime.hidden_states = v; }));
  s.push_back(enum_key("runtime.communicator", "auto",
                       "how a multi-rank GPU run sums its statistics: nccl (on the devices; every rank needs a GPU "
                       "of its own), mpi (device tensors staged through page-locked host memory; ranks may share a "
                       "GPU); auto: nccl when no two ranks share a GPU, else mpi. CPU runs always use mpi",
                       dist::kCollectivesNames, [](Config& c, Collectives v) { c.runtime.communicator = v; }));
  s.push_back(
      ranged(key("runtime.threads", K::Int, "0", "CPU threads per rank for the CPU kernels and solves; 0: all cores",
                 [](Config& c, V v) { c.runtime.threads = v.i; }),
             0, kMaxThreads));
  s.push_back(key("runtime.cuda_graphs", K::Bool, "true",
                  "generate and bench on a GPU: record the decode step once as a CUDA graph and replay it per token "
                  "(one launch per token; not for OPT, or RoPE scaling that changes with the length); false: launch "
                  "op by op",
                  [](Config& c, V v) { c.runtime.cuda_graphs = v.b; }));
  // ---- output
  s.push_back(key("output.dir", K::Path, "out", "output folder (created; rank 0 writes)",
                  [](Config& c, V v) { c.output.dir = v.s; }));
  s.push_back(key("output.masks", K::String, "masks.h5", "HDF5 masks file name inside output.dir",
                  [](Config& c, V v) { c.output.masks = v.s; }));
  s.push_back(enum_key("output.checkpoint", "compact",
                       "pruned checkpoint: compact (smaller tensors), dense (masked zeros, stock shapes), none",
                       persist::kCheckpointFormNames, [](Config& c, CheckpointForm v) { c.output.checkpoint = v; }));
  s.push_back(key("output.report", K::String, "report.json", "JSON report file name inside output.dir",
                  [](Config& c, V v) { c.output.report = v.s; }));
  s.push_back(key("output.model_dir", K::String, "model", "folder of the pruned checkpoint inside output.dir",
                  [](Config& c, V v) { c.output.model_dir = v.s; }));
  s.push_back(auto_enum_key("output.dtype",
                            "dtype of the written weights (auto: as the input checkpoint stores them); the reported "
                            "pruned perplexity is computed on these weights",
                            kWeightDTypeNames, [](Config& c, std::optional<DType> v) { c.output.dtype = v; }));
  s.push_back(ranged(key("output.max_shard_gb", K::Float, "2", "largest safetensors shard of the pruned checkpoint",
                         [](Config& c, V v) { c.output.max_shard_gb = v.f; }),
                     0.0, kMaxGiB, true));
  s.push_back(key("output.overwrite", K::Bool, "false", "replace existing outputs instead of failing",
                  [](Config& c, V v) { c.output.overwrite = v.b; }));
  s.push_back(
      key("output.journal", K::Bool, "true",
          "keep every pruned layer in output.dir/.journal while the run lasts, so that --resume can "
          "continue an interrupted run (needs about a third of the pruned model's size on disk until the end, the "
          "whole of it with prune.refit_producers); "
          "false: no journal, --resume refused",
          [](Config& c, V v) { c.output.journal = v.b; }));
  s.push_back(choice(key("output.gguf", K::Enum, "none",
                         "also write output.dir/model.gguf, the pruned model for llama.cpp, with F32 / F16 / BF16 "
                         "matrices (docs/formats.md); `export` writes this tensor type too (f32 when none)",
                         [](Config& c, V v) { c.output.gguf = v.s; }),
                     kGguf));
  // ---- eval
  s.push_back(key("eval.datasets", K::DatasetList, "[]", "evaluation sets: list of {name, path, format, text_field}",
                  [](Config& c, V v) { c.eval.datasets = v.datasets; }));
  s.push_back(ranged(key("eval.seqlen", K::Int, "0",
                         "perplexity window length; 0: the model's max_position_embeddings (2048 when config.json "
                         "has none)",
                         [](Config& c, V v) { c.eval.seqlen = v.i; }),
                     0, kMaxTokens));
  s.push_back(ranged(key("eval.max_windows", K::Int, "0", "evaluate at most this many windows; 0: all",
                         [](Config& c, V v) { c.eval.max_windows = v.i; }),
                     0, kMaxInt));
  s.push_back(key("eval.before", K::Bool, "true",
                  "prune: also evaluate the dense model (pass 1), for the before/after table",
                  [](Config& c, V v) { c.eval.before = v.b; }));
  s.push_back(
      ranged(key("eval.batch", K::Int, "1", "windows per forward pass", [](Config& c, V v) { c.eval.batch = v.i; }), 1,
             kMaxWindows));
  // ---- bench
  s.push_back(ranged(key("bench.batch", K::IntList, "[1, 16]", "bench: batch sizes (windows decoded together)",
                         [](Config& c, V v) { c.bench.batch = v.ints; }),
                     1, kMaxWindows));
  s.push_back(ranged(key("bench.prompt", K::IntList, "[512, 2048]",
                         "bench: prompt lengths in tokens (prefill); prompt + generate must fit the model's context",
                         [](Config& c, V v) { c.bench.prompt = v.ints; }),
                     1, kMaxTokens));
  s.push_back(
      ranged(key("bench.generate", K::Int, "128", "bench: tokens generated per window after the prefill (decode)",
                 [](Config& c, V v) { c.bench.generate = v.i; }),
             0, kMaxTokens));
  s.push_back(ranged(key("bench.repeats", K::Int, "5", "bench: timed runs per case; the median is reported",
                         [](Config& c, V v) { c.bench.repeats = v.i; }),
                     1, kMaxIterations));
  s.push_back(ranged(key("bench.warmup", K::Int, "1", "bench: untimed runs before each model's first case",
                         [](Config& c, V v) { c.bench.warmup = v.i; }),
                     0, kMaxIterations));
  s.push_back(ranged(key("bench.seed", K::Int, "0", "bench: seed of the random prompt ids",
                         [](Config& c, V v) { c.bench.seed = v.i; }),
                     0, kMaxSeed));
  // ---- logging
  s.push_back(choice(key("logging.level", K::Enum, "info", "log level", [](Config& c, V v) { c.logging.level = v.s; }),
                     kLevels));
  s.push_back(key("logging.all_ranks", K::Bool, "false", "every rank logs INFO (default: rank 0 only)",
                  [](Config& c, V v) { c.logging.all_ranks = v.b; }));
  return s;
}

std::vector<KeySpec> build_item_schema() {
  using K = ValueKind;
  // Setters are unused for items (the list is assembled by the loader); docs and types are used.
  auto none = [](Config&, V) {};
  std::vector<KeySpec> s;
  s.push_back(key("name", K::String, "", "label in the report (required, unique)", none));
  s.push_back(key("path", K::Path, "", "data file (required)", none));
  s.push_back(choice(key("format", K::Enum, "auto", "text, jsonl, wikitext, ids; auto: by extension", none),
                     enum_names<DataFormat>(kDataFormatNames)));
  s.push_back(key("text_field", K::String, "text", "JSON field holding the text (jsonl only)", none));
  return s;
}

std::string fmt_bound(double v, bool integer) { return integer ? fmt::format("{}", int64_t(v)) : fmt::format("{}", v); }

}  // namespace

const std::vector<KeySpec>& config_schema() {
  static const std::vector<KeySpec> s = build_schema();
  return s;
}

const std::vector<KeySpec>& dataset_item_schema() {
  static const std::vector<KeySpec> s = build_item_schema();
  return s;
}

std::string describe_type(const KeySpec& k) {
  switch (k.kind) {
    case ValueKind::Bool:
      return "bool";
    case ValueKind::String:
      return "string";
    case ValueKind::Path:
      return "path";
    case ValueKind::DatasetList:
      return "list of {name, path, format, text_field}";
    case ValueKind::IntList: {
      KeySpec item = k;
      item.kind = ValueKind::Int;
      return "list of " + describe_type(item);
    }
    case ValueKind::Enum:
      return fmt::format("one of: {}", fmt::join(k.choices, "|"));
    case ValueKind::Int:
    case ValueKind::Float: {
      const bool integer = k.kind == ValueKind::Int;
      const char* base = integer ? "int" : "float";
      if (k.min && k.max)
        return fmt::format("{} in {}{}, {}{}", base, k.min_open ? "(" : "[", fmt_bound(*k.min, integer),
                           fmt_bound(*k.max, integer), k.max_open ? ")" : "]");
      if (k.min) return fmt::format("{} {} {}", base, k.min_open ? ">" : ">=", fmt_bound(*k.min, integer));
      if (k.max) return fmt::format("{} {} {}", base, k.max_open ? "<" : "<=", fmt_bound(*k.max, integer));
      return base;
    }
  }
  return "?";
}

size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t sub = prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, sub});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

std::string config_reference_markdown() {
  auto cell = [](const std::string& s) {
    std::string out;
    for (char c : s) {
      if (c == '|') out += '\\';
      out += c;
    }
    return out;
  };
  std::string o, section;
  for (const KeySpec& k : config_schema()) {
    const std::string sec = k.path.substr(0, k.path.find('.'));
    if (sec != section) {
      section = sec;
      o += fmt::format("{}### `{}`\n\n| key | type | default | meaning |\n|---|---|---|---|\n", o.empty() ? "" : "\n",
                       sec);
    }
    o += fmt::format("| `{}` | {} | `{}` | {} |\n", k.path, cell(describe_type(k)), k.default_yaml, cell(k.doc));
  }
  o += "\n| item key | type | default | meaning |\n|---|---|---|---|\n";
  for (const KeySpec& k : dataset_item_schema())
    o += fmt::format("| `eval.datasets[].{}` | {} | {} | {} |\n", k.path, cell(describe_type(k)),
                     k.default_yaml.empty() ? "(required)" : "`" + k.default_yaml + "`", cell(k.doc));
  return o;
}

std::string nearest_key(const std::string& key, const std::vector<std::string>& candidates) {
  std::string best;
  size_t best_d = SIZE_MAX;
  for (const auto& c : candidates) {
    const size_t d = edit_distance(key, c);
    if (d < best_d) {
      best_d = d;
      best = c;
    }
  }
  return best;
}

const char* to_string(DataFormat v) { return enum_name<DataFormat>(kDataFormatNames, v); }

}  // namespace sp::cli
