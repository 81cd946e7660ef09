#include "cli/plan.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "core/ranges.h"

namespace sp::cli {
namespace {

int precision_bytes(Precision p) { return p == Precision::FP32 ? 4 : 2; }

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

Plan make_plan(const Config& cfg, const io::ModelConfig& m, int n_ranks) {
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
  p.calib_seqlen = resolve_seqlen(cfg.calibration.seqlen, 2048, m, "calibration.seqlen");
  p.eval_seqlen = resolve_seqlen(cfg.eval.seqlen, m.max_positions > 0 ? m.max_positions : 2048, m, "eval.seqlen");
  p.compute_bytes = precision_bytes(cfg.runtime.precision);
  p.budget_bytes = cfg.runtime.memory_budget_gb * double(1ll << 30);

  const auto ranges = balanced_ranges(m.n_layers, n_ranks);
  if (n_ranks > m.n_layers)
    p.warnings.push_back(fmt::format("{} ranks for {} layers: ranks {}..{} own no layer and only join collectives",
                                     n_ranks, m.n_layers, m.n_layers, n_ranks - 1));
  for (int r = 0; r < n_ranks; ++r) {
    RankShard s;
    s.rank = r;
    s.first_layer = ranges[size_t(r)].first;
    s.n_layers = ranges[size_t(r)].second;
    if (s.n_layers > 0) {
      auto& mem = s.memory;
      mem.hidden_states = cfg.calibration.nsamples * p.calib_seqlen * m.hidden * p.compute_bytes * 2;
      mem.logits = p.eval_seqlen * int64_t(m.vocab) * 4;
      for (int l = s.first_layer; l < s.first_layer + s.n_layers; ++l) {
        const auto& shape = m.layers[size_t(l)];
        const int64_t widest =
            std::max({int64_t(shape.intermediate), int64_t(m.hidden), int64_t(shape.n_heads) * m.head_dim});
        mem.layer_weights = std::max(mem.layer_weights, p.layers[size_t(l)].layer_params * p.compute_bytes);
        mem.gram = std::max(mem.gram, widest * widest * 8);  // F64 statistics
      }
      if (p.budget_bytes > 0 && double(mem.device_total()) > p.budget_bytes && cfg.runtime.spill_to_host) {
        mem.hidden_on_host = true;
        p.warnings.push_back(
            fmt::format("rank {}: calibration hidden states ({}) are kept in host memory to fit "
                        "runtime.memory_budget_gb",
                        r, gib(double(mem.hidden_states))));
      }
      SP_REQUIRE(p.budget_bytes <= 0 || double(mem.device_total()) <= p.budget_bytes,
                 "rank {}: estimated device memory {} exceeds runtime.memory_budget_gb = {} ({}); raise the "
                 "budget, lower calibration.nsamples / calibration.seqlen, use more ranks{}",
                 r, gib(double(mem.device_total())), cfg.runtime.memory_budget_gb, gib(p.budget_bytes),
                 cfg.runtime.spill_to_host ? "" : " or set runtime.spill_to_host = true");
    }
    p.shards.push_back(s);
  }
  return p;
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
  line(fmt::format("calibration windows of {} tokens; evaluation windows of {} tokens; compute dtype {} bytes",
                   p.calib_seqlen, p.eval_seqlen, p.compute_bytes));
  line(fmt::format("per rank (budget {}):", p.budget_bytes > 0 ? gib(p.budget_bytes) : std::string("none")));
  line(fmt::format("  {:>4}  {:>9}  {:>12}  {:>12}  {:>14}  {:>12}  {:>12}  {:>12}", "rank", "layers", "weights",
                   "hidden x2", "", "gram f64", "logits", "device total"));
  for (const auto& s : p.shards) {
    const auto& m = s.memory;
    const std::string range =
        s.n_layers > 0 ? fmt::format("{}-{}", s.first_layer, s.first_layer + s.n_layers - 1) : std::string("-");
    line(fmt::format("  {:>4}  {:>9}  {:>12}  {:>12}  {:>14}  {:>12}  {:>12}  {:>12}", s.rank, range,
                     gib(double(m.layer_weights)), gib(double(m.hidden_states)), m.hidden_on_host ? "(on host)" : "",
                     gib(double(m.gram)), gib(double(m.logits)), gib(double(m.device_total()))));
  }
  for (const auto& w : p.warnings) line("note: " + w);
  return o;
}

}  // namespace sp::cli
