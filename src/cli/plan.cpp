#include "cli/plan.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <tuple>

#include "cli/session.h"
#include "core/error.h"
#include "core/ranges.h"
#include "dist/device_communicator.h"

namespace sp::cli {
namespace {

int precision_bytes(Precision p) { return p == Precision::Exact32 ? 4 : 2; }

std::string gib(double bytes) {
  if (bytes < double(1ll << 30)) return fmt::format("{:.1f} MiB", bytes / double(1ll << 20));
  return fmt::format("{:.2f} GiB", bytes / double(1ll << 30));
}

std::string count(int64_t n) {
  if (n >= 1'000'000'000) return fmt::format("{:.2f}B", double(n) / 1e9);
  if (n >= 1'000'000) return fmt::format("{:.2f}M", double(n) / 1e6);
  if (n >= 1'000) return fmt::format("{:.1f}K", double(n) / 1e3);
  return fmt::format("{}", n);
}

int64_t resolve_seqlen(int64_t asked, int64_t fallback, const io::ModelConfig& m, const char* key) {
  const int64_t ctx = m.max_positions;
  if (asked == 0) return ctx > 0 ? std::min(fallback, ctx) : fallback;
  SP_REQUIRE(ctx <= 0 || asked <= ctx, "{} = {} exceeds the model's context (max_position_embeddings = {})", key, asked,
             ctx);
  return asked;
}

}  // namespace

DType output_dtype(const Config& cfg, const io::ModelConfig& mc) {
  if (cfg.output.dtype) return *cfg.output.dtype;
  return mc.weight_dtype == DType::F64 ? DType::F32 : mc.weight_dtype;
}

void check_disk(const Config& cfg, const Plan& p, int64_t free_bytes, int64_t already) {
  const int64_t need = std::max<int64_t>(0, p.disk_checkpoint + p.disk_journal - std::max<int64_t>(0, already));
  // Too little disk is the environment's failure, not bad input: IoError (exit 74), as a full disk later would be.
  if (need > free_bytes)
    throw IoError(fmt::format(
        "output.dir {}: the run needs about {} more of disk (checkpoint {}, resume journal {} until the end{}) "
        "and the filesystem has {} free; free some space, choose another output.dir, set output.journal: false "
        "(no --resume) or output.checkpoint: none",
        cfg.output.dir, gib(double(need)), gib(double(p.disk_checkpoint)), gib(double(p.disk_journal)),
        already > 0 ? fmt::format(", {} bytes of it already written", already) : std::string(),
        gib(double(free_bytes))));
}

int64_t calibration_seqlen(const Config& cfg, const io::ModelConfig& m) {
  return resolve_seqlen(cfg.calibration.seqlen, 2048, m, "calibration.seqlen");
}

int64_t held_out_probe_windows(const Config& cfg) {
  return cfg.prune.probe_held_out && cfg.prune.normalize == Normalization::Kl ? cfg.prune.probe_windows : 0;
}

int64_t refine_windows(const Config& cfg) { return cfg.prune.refine_rounds > 0 ? cfg.prune.refine_windows : 0; }

int64_t evaluation_seqlen(const Config& cfg, const io::ModelConfig& m) {
  return resolve_seqlen(cfg.eval.seqlen, m.max_positions > 0 ? m.max_positions : 2048, m, "eval.seqlen");
}

prune::PruneOptions prune_options(const Config& cfg) {
  const auto& p = cfg.prune;
  prune::PruneOptions o;
  o.method = p.method;
  o.sparsity = p.sparsity;
  o.attention = p.structures.attention;
  o.mlp = p.structures.mlp;
  o.metric = p.metric;
  o.normalize = p.normalize;
  o.allocation = p.allocation;
  o.temperature = p.temperature;
  o.s_min = p.s_min;
  o.s_max = p.s_max;
  o.rho = p.admm.rho;
  o.admm_max_iters = int(p.admm.max_iters);
  o.admm_tol_primal = p.admm.tol_primal;
  o.admm_tol_dual = p.admm.tol_dual;
  o.reconstruct = p.reconstruct;
  o.target = p.refit_target;
  o.refit_producers = p.refit_producers;
  o.bias_compensation = p.bias_compensation;
  o.damping = p.damping;
  o.refit_toward_weights = p.refit_prior_weights;
  o.obs_step = int(p.obs_step);
  o.gram_fp64 = p.gram_fp64;
  o.probe_windows = int(p.probe_windows);
  o.round_to = int(p.round_to);
  o.uniform_shape = p.uniform_shape;
  o.refine_rounds = int(p.refine_rounds);
  return o;
}

Plan make_plan(const Config& cfg, const io::ModelConfig& m, int n_ranks, const std::vector<int>& eval_windows) {
  SP_REQUIRE(m.n_layers > 0 && int(m.layers.size()) == m.n_layers, "config.json: no decoder layers");
  Plan p;
  p.model_type = m.model_type;
  p.n_layers = m.n_layers;
  p.hidden = m.hidden;
  p.heads = m.layers[0].n_heads;
  p.kv_heads = m.layers[0].n_kv_heads;
  p.head_dim = m.head_dim;
  p.intermediate = m.layers[0].intermediate;
  p.vocab = m.vocab;
  p.uniform = std::all_of(m.layers.begin(), m.layers.end(), [&](const io::LayerShape& s) { return s == m.layers[0]; });
  p.total_params = prune::count_model_params(m);
  for (int l = 0; l < m.n_layers; ++l) {
    p.layers.push_back(prune::layer_groups(m, l, cfg.prune.structures.attention, cfg.prune.structures.mlp));
    p.prunable_params += p.layers.back().prunable_params();
  }
  p.target_remove = std::llround(cfg.prune.sparsity * double(p.prunable_params));
  p.calib_seqlen = calibration_seqlen(cfg, m);
  p.eval_seqlen = evaluation_seqlen(cfg, m);
  p.compute_bytes = precision_bytes(cfg.runtime.precision);
  p.budget_bytes = cfg.runtime.memory_budget_gb * double(1ll << 30);
  // Disk: what is kept, in the output dtype (the allocation moves parameters between layers, not
  // their total). The journal holds the layers only, with a keep mask (1 byte) and a score (F64)
  // per unit, and of the prunable weights only the consumers (o_proj, down_proj / fc2) unless the
  // producers are refit (a replay cuts the others from the dense layer again): at most the larger
  // consumer share of a unit of what is kept, whichever way the allocation splits it.
  int64_t layer_params = 0, units = 0;
  double consumer_share = cfg.prune.refit_producers ? 1.0 : 0.0;
  for (size_t l = 0; l < p.layers.size(); ++l) {
    const prune::LayerGroups& g = p.layers[l];
    layer_params += g.layer_params, units += g.attention_units + g.mlp_units;
    const double q_cols = double(m.layers[l].n_heads) * m.head_dim;
    if (g.attention_units > 0)
      consumer_share =
          std::max(consumer_share, m.hidden * q_cols / g.attention_units / double(g.params_per_attention_unit));
    if (g.mlp_units > 0) consumer_share = std::max(consumer_share, m.hidden / double(g.params_per_mlp_unit));
  }
  const int64_t out_bytes = int64_t(dtype_size(output_dtype(cfg, m)));
  if (cfg.output.checkpoint == CheckpointForm::Compact)
    p.disk_checkpoint = (p.total_params - p.target_remove) * out_bytes;
  if (cfg.output.checkpoint == CheckpointForm::Dense) p.disk_checkpoint = p.total_params * out_bytes;
  const int64_t kept_prunable = p.prunable_params - p.target_remove;
  if (cfg.output.journal)
    p.disk_journal =
        (std::llround(double(kept_prunable) * std::min(1.0, consumer_share)) + (layer_params - p.prunable_params)) *
            out_bytes +
        units * (1 + 8);

  const int nsamples = int(cfg.calibration.nsamples);
  std::vector<int> evals = eval_windows;
  if (evals.empty() && cfg.eval.max_windows > 0) evals.assign(cfg.eval.datasets.size(), int(cfg.eval.max_windows));
  const prune::PruneOptions opt = prune_options(cfg);
  const int probes = held_out_probe_windows(cfg) > 0 ? int(cfg.prune.probe_windows)
                                                    : std::min(int(cfg.prune.probe_windows), nsamples);
  auto shards_for = [&](int batch, bool host_states) {
    std::vector<RankShard> shards;
    for (int r = 0; r < n_ranks; ++r) {
      RankShard s;
      s.rank = r;
      std::tie(s.calib_first, s.calib_windows) = batch_aligned_range(nsamples, batch, r, n_ranks);
      for (int w : evals) s.eval_windows += batch_aligned_range(w, batch, r, n_ranks).second;
      s.probe_windows = batch_aligned_range(probes, 1, r, n_ranks).second;
      s.refine_windows = batch_aligned_range(int(refine_windows(cfg)), 1, r, n_ranks).second;
      MemoryWorkload in;
      in.compute_bytes = p.compute_bytes;
      in.calib_windows = s.calib_windows;
      in.calib_seqlen = int(p.calib_seqlen);
      in.batch = batch;
      in.eval_windows = s.eval_windows;
      in.eval_seqlen = int(p.eval_seqlen);
      in.eval_before = cfg.eval.before;
      in.probe_windows = s.probe_windows;
      in.refine_windows = s.refine_windows;
      // Checkpoint layers are read ahead (model/layer_prefetch.h): into host tensors on the CPU, into
      // host staging (not device memory) for a GPU.
      in.read_ahead = runs_on_cpu(cfg) && !cfg.model.synthetic;
      in.host_states = host_states;
      s.memory = estimate_memory(m, opt, in);
      HostWorkload h;
      h.cpu = runs_on_cpu(cfg);
      h.read_ahead = !cfg.model.synthetic;
      h.mapped_bytes = cfg.model.synthetic ? 0 : p.total_params * int64_t(dtype_size(m.weight_dtype));
      h.output_bytes = int(out_bytes);
      h.journal = r == 0 && cfg.output.journal;  // rank 0 writes the outputs
      h.checkpoint_bytes = r == 0 ? p.disk_checkpoint : 0;
      h.max_shard_bytes = int64_t(cfg.output.max_shard_gb * double(1ll << 30));
      s.host = estimate_host_memory(m, opt, in, s.memory, h);
      shards.push_back(s);
    }
    return shards;
  };
  // Under a budget, the batch (windows per forward) halves until every rank fits: smaller
  // activations and batch products, the same windows and statistics. If one window per forward
  // still does not fit, the hidden states move to host memory (runtime.hidden_states auto) and the
  // batch starts again from calibration.batch.
  const auto fits = [&] { return p.budget_bytes <= 0 || double(p.peak_shard().memory.peak()) <= p.budget_bytes; };
  const auto halve_until_fit = [&](bool host) {
    p.host_states = host;
    p.shards = shards_for(p.calib_batch = int(cfg.calibration.batch), host);
    while (!fits() && p.calib_batch > 1) p.shards = shards_for(p.calib_batch = (p.calib_batch + 1) / 2, host);
  };
  const std::optional<model::Residence> where = cfg.runtime.hidden_states;
  halve_until_fit(where == model::Residence::Host);
  const bool moved = !fits() && !where;
  if (moved) halve_until_fit(true);
  const RankShard& w = p.peak_shard();
  SP_REQUIRE(fits(),
             "rank {}: estimated device memory {} exceeds runtime.memory_budget_gb = {} ({}) even in batches of {} "
             "window(s) with the hidden states in {} memory; raise the budget, use more ranks (each holds a share of "
             "the windows), or lower calibration.nsamples, calibration.seqlen or prune.probe_windows",
             w.rank, gib(double(w.memory.peak())), cfg.runtime.memory_budget_gb, gib(p.budget_bytes), p.calib_batch,
             p.host_states ? "host" : "device");
  if (p.calib_batch != int(cfg.calibration.batch))
    p.warnings.push_back(
        fmt::format("calibration.batch {} -> {} windows per forward, so that every rank's estimate fits "
                    "runtime.memory_budget_gb",
                    cfg.calibration.batch, p.calib_batch));
  if (moved)
    p.warnings.push_back(
        "hidden states in host memory (a batch uploaded per forward), so that every rank's estimate fits "
        "runtime.memory_budget_gb");
  const int batches = (nsamples + p.calib_batch - 1) / p.calib_batch;
  if (n_ranks > batches)
    p.warnings.push_back(
        fmt::format("{} ranks for {} calibration batches of {} windows: some ranks hold no window and "
                    "only join the collectives",
                    n_ranks, batches, p.calib_batch));
  return p;
}

void set_placement(Plan& p, const Config& cfg, int n_ranks, bool on_gpu, int ranks_per_gpu) {
  const dist::Collectives asked = cfg.runtime.communicator;
  p.ranks_per_gpu = on_gpu ? ranks_per_gpu : 0;
  p.collectives = dist::choose_collectives(asked, on_gpu, n_ranks, ranks_per_gpu, dist::nccl_built());
  if (p.ranks_per_gpu > 1)
    p.warnings.push_back(fmt::format(
        "up to {} ranks share a GPU: their device memory adds up on it (runtime.memory_budget_gb is per rank) and "
        "they take turns on it; the statistics are summed through MPI (runtime.communicator {})",
        p.ranks_per_gpu, to_string(cfg.runtime.communicator)));
}

const RankShard& Plan::peak_shard() const {
  SP_CHECK(!shards.empty(), "a plan of no rank");
  return *std::max_element(shards.begin(), shards.end(),
                           [](const RankShard& a, const RankShard& b) { return a.memory.peak() < b.memory.peak(); });
}

const RankShard& Plan::peak_host_shard() const {
  SP_CHECK(!shards.empty(), "a plan of no rank");
  return *std::max_element(shards.begin(), shards.end(),
                           [](const RankShard& a, const RankShard& b) { return a.host.total() < b.host.total(); });
}

int64_t Plan::host_per_node() const {
  const RankShard& s = peak_host_shard();
  return std::min<int64_t>(ranks_per_node, int64_t(shards.size())) * s.host.anonymous() + s.host.mapped;
}

std::string format_plan(const Plan& p) {
  std::string o;
  auto line = [&o](const std::string& s) { o += s + "\n"; };
  line(fmt::format("model: {}  layers {}  hidden {}  heads {} / kv heads {} (head dim {})  intermediate {}  vocab {}{}",
                   p.model_type, p.n_layers, p.hidden, p.heads, p.kv_heads, p.head_dim, p.intermediate, p.vocab,
                   p.uniform ? "" : "  (per-layer shapes differ; layer 0 shown)"));
  line(fmt::format("parameters: {} ({})", p.total_params, count(p.total_params)));
  line("prunable groups per layer:");
  line(fmt::format("  {:>5}  {:>10}  {:>12}  {:>10}  {:>12}  {:>12}", "layer", "attn units", "params/unit", "mlp units",
                   "params/unit", "prunable"));
  int64_t attn_units = 0, mlp_units = 0;
  for (size_t l = 0; l < p.layers.size(); ++l) {
    const auto& g = p.layers[l];
    attn_units += g.attention_units;
    mlp_units += g.mlp_units;
    line(fmt::format("  {:>5}  {:>10}  {:>12}  {:>10}  {:>12}  {:>12}", l, g.attention_units,
                     g.params_per_attention_unit, g.mlp_units, g.params_per_mlp_unit, g.prunable_params()));
  }
  line(fmt::format("  {:>5}  {:>10}  {:>12}  {:>10}  {:>12}  {:>12}", "total", attn_units, "", mlp_units, "",
                   p.prunable_params));
  const double frac = p.total_params > 0 ? double(p.target_remove) / double(p.total_params) : 0.0;
  line(fmt::format("target: remove {} of {} prunable parameters ({:.1f}% of the model)", p.target_remove,
                   p.prunable_params, 100.0 * frac));
  line(
      fmt::format("calibration windows of {} tokens, {} per forward; evaluation windows of {} tokens; compute dtype "
                  "{} bytes; hidden states in {} memory",
                  p.calib_seqlen, p.calib_batch, p.eval_seqlen, p.compute_bytes, p.host_states ? "host" : "device"));
  line(fmt::format("per rank: every layer streamed over the rank's windows; estimated peak device memory (budget {}):",
                   p.budget_bytes > 0 ? gib(p.budget_bytes) : std::string("none")));
  line(fmt::format("  {:>4}  {:>13}  {:>5}  {:>10}  {:>10}  {:>10}  {:>10}  {:>10}  {:>10}  {:>10}  {:>10}", "rank",
                   "calibration", "eval", "weights", "hidden", "kl probes", "batch", "stats p1", "stats p2", "pass 1",
                   "pass 2"));
  for (const auto& s : p.shards) {
    const auto& m = s.memory;
    const std::string range = s.calib_windows > 0
                                  ? fmt::format("{}-{}", s.calib_first, s.calib_first + s.calib_windows - 1)
                                  : std::string("-");
    line(fmt::format("  {:>4}  {:>13}  {:>5}  {:>10}  {:>10}  {:>10}  {:>10}  {:>10}  {:>10}  {:>10}  {:>10}", s.rank,
                     range, s.eval_windows, gib(double(m.globals + 3 * m.layer)),
                     gib(double(m.calib_states + m.dense_states + m.eval_states)), gib(double(std::max(m.probe_states, m.refine_states))),
                     gib(double(m.activations)), gib(double(std::max(m.stats1_adding, m.stats1_solving))),
                     gib(double(std::max(m.stats2_adding, m.stats2_solving))), gib(double(m.pass1())),
                     gib(double(m.pass2()))));
  }
  if (!p.shards.empty())
    line(fmt::format("estimated peak device memory: {} (rank {})", gib(double(p.peak_shard().memory.peak())),
                     p.peak_shard().rank));
  if (p.collectives != "self")
    line(fmt::format("collectives: {} ({})", p.collectives,
                     p.ranks_per_gpu == 0   ? std::string("CPU ranks")
                     : p.ranks_per_gpu == 1 ? std::string("one GPU per rank")
                                            : fmt::format("up to {} ranks per GPU", p.ranks_per_gpu)));
  line("per rank: estimated peak host memory (rank 0 also writes the journal and the checkpoint):");
  line(fmt::format("  {:>4}  {:>10}  {:>10}  {:>10}  {:>10}  {:>10}  {:>10}  {:>10}  {:>10}", "rank", "baseline",
                   "on the cpu", "read-ahead", "hidden", "journal", "ckpt shard", "mapped", "total"));
  for (const auto& s : p.shards) {
    const auto& h = s.host;
    line(fmt::format("  {:>4}  {:>10}  {:>10}  {:>10}  {:>10}  {:>10}  {:>10}  {:>10}  {:>10}", s.rank,
                     gib(double(h.baseline)), gib(double(h.device)), gib(double(h.read_ahead)),
                     gib(double(h.hidden_states)), gib(double(h.journal)), gib(double(h.checkpoint)),
                     gib(double(h.mapped)), gib(double(h.total()))));
  }
  if (!p.shards.empty()) {
    const RankShard& h = p.peak_host_shard();
    line(
        fmt::format("estimated peak host memory: {} (rank {}); per node of {} rank(s): {} (mapped checkpoint pages "
                    "counted once)",
                    gib(double(h.host.total())), h.rank, std::min<int64_t>(p.ranks_per_node, int64_t(p.shards.size())),
                    gib(double(p.host_per_node()))));
  }
  line(fmt::format("disk under output.dir at the end: checkpoint {}, resume journal {}", gib(double(p.disk_checkpoint)),
                   gib(double(p.disk_journal))));
  for (const auto& w : p.warnings) line("note: " + w);
  return o;
}

}  // namespace sp::cli
