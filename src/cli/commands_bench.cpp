// The bench subcommand: prefill and decode throughput of model.path in this engine (and of a
// --baseline folder, in the same run, with the speedups), on runtime.device / runtime.precision.
// Each model is loaded whole (every layer resident, as generate does) and measured on random token
// ids for every (bench.batch, bench.prompt) case: bench.warmup untimed runs, then bench.repeats
// timed runs, the median reported. Rank 0 measures; other ranks exit 0.
#include <fmt/ranges.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "cli/commands_model.h"
#include "cli/session.h"
#include "core/error.h"
#include "core/log.h"
#include "io/atomic_file.h"
#include "model/throughput.h"
#include "prune/groups.h"
#include "struprune/version.h"

namespace sp::cli {
namespace fs = std::filesystem;
namespace {

struct Case {
  int batch = 0, prompt = 0;
  std::vector<double> prefill, decode;  // seconds of each timed run
  double prefill_flops = 0, decode_flops = 0;
};

struct Measured {
  std::string label, path, source;
  int64_t parameters = 0, layer_bytes = 0;
  int64_t lm_head_bytes = 0;  // read by every decode step too (tied or not)
  std::vector<Case> cases;
  bool decode_graph = false;  // the decode steps replayed a CUDA graph
};

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

int generated(const Config& cfg) { return int(cfg.bench.generate); }
double prefill_tps(const Case& c) { return double(c.batch) * c.prompt / median(c.prefill); }
double decode_tps(const Case& c, int gen) { return gen > 0 ? double(c.batch) * gen / median(c.decode) : 0.0; }

// The baseline folder: its safetensors if it has any, else synthetic weights of its config.json's
// shapes (the speed does not depend on the values).
std::unique_ptr<model::WeightSource> open_baseline(const std::string& dir, const Config& cfg) {
  std::error_code ec;
  SP_REQUIRE(fs::is_regular_file(fs::path(dir) / "config.json", ec), "{}: no config.json there (--baseline)", dir);
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().extension() == ".safetensors") return model::open_checkpoint_source(dir);
  SP_LOG_WARN("--baseline {}: no safetensors there: SYNTHETIC weights with its config.json's shapes (speed only)", dir);
  return model::open_synthetic_source((fs::path(dir) / "config.json").string(), uint64_t(cfg.model.synthetic_seed));
}

void check_context(const model::Model& m, const Config& cfg, const std::string& what) {
  const int ctx = m.config().max_positions;
  for (int64_t p : cfg.bench.prompt)
    SP_REQUIRE(p + cfg.bench.generate <= ctx,
               "{}: bench.prompt {} + bench.generate {} tokens exceed its context (max_position_embeddings = {})", what,
               p, cfg.bench.generate, ctx);
}

// bench.prompt / bench.generate's defaults suit 2048-token models; when they are left at their defaults
// and a case does not fit the context, they are fitted to it (one log line says so). Values the user
// set are kept and checked by check_context.
Config fit_defaults_to_context(const Config& cfg, int ctx, const std::string& what) {
  const Config d = default_config();
  const auto fits = [&](const Config& c) {
    return std::all_of(c.bench.prompt.begin(), c.bench.prompt.end(),
                       [&](int64_t p) { return p + c.bench.generate <= ctx; });
  };
  if (cfg.bench.prompt != d.bench.prompt || cfg.bench.generate != d.bench.generate || fits(cfg) || ctx < 2) return cfg;
  Config c = cfg;
  c.bench.generate = std::min<int64_t>(c.bench.generate, ctx / 4);
  c.bench.prompt.clear();
  for (int64_t p : cfg.bench.prompt) {
    const int64_t q = std::min(p, ctx - c.bench.generate);
    if (std::find(c.bench.prompt.begin(), c.bench.prompt.end(), q) == c.bench.prompt.end()) c.bench.prompt.push_back(q);
  }
  SP_LOG_INFO(
      "bench: the default bench.prompt [{}] + bench.generate {} exceed the context of {} (max_position_embeddings = "
      "{}): fitted to bench.prompt [{}], bench.generate {}",
      fmt::join(cfg.bench.prompt, ", "), cfg.bench.generate, what, ctx, fmt::join(c.bench.prompt, ", "),
      c.bench.generate);
  return c;
}

Measured measure(const std::string& label, const std::string& path, std::unique_ptr<model::WeightSource> source,
                 const Config& cfg, int local_rank) {
  ExecContext ctx(pick_device(cfg, local_rank));
  model::Model m(std::move(source), ctx, cfg.runtime.precision);
  m.pad_mlp_widths(model::kMlpTileMultiple);
  m.fuse_projections(true);
  check_context(m, cfg, path);
  Measured r;
  r.label = label;
  r.path = path;
  r.source = m.source().describe();
  r.parameters = prune::count_model_params(m.config());
  model::ThroughputProbe probe(m, ctx);
  r.layer_bytes = probe.layer_bytes();
  r.lm_head_bytes = int64_t(m.config().vocab) * m.config().hidden * int64_t(dtype_size(m.dtype()));
  const int gen = generated(cfg);
  const uint64_t seed = uint64_t(cfg.bench.seed);
  const bool graphs = cfg.runtime.cuda_graphs;
  for (int w = 0; w < cfg.bench.warmup; ++w)
    probe.run(int(cfg.bench.batch.front()), int(cfg.bench.prompt.front()), std::min(gen, 8), seed, graphs);
  for (int64_t b : cfg.bench.batch)
    for (int64_t p : cfg.bench.prompt) {
      Case c{
          int(b), int(p), {}, {}, model::prefill_flops(m, int(b), int(p)), model::decode_flops(m, int(b), int(p), gen)};
      probe.run(c.batch, c.prompt, std::min(gen, 2), seed, graphs);  // this shape's first launch, untimed
      for (int i = 0; i < cfg.bench.repeats; ++i) {
        const model::ThroughputRun t = probe.run(c.batch, c.prompt, gen, seed + uint64_t(i), graphs);
        r.decode_graph = t.decode_recorded;
        c.prefill.push_back(t.prefill_seconds);
        c.decode.push_back(t.decode_seconds);
      }
      SP_LOG_INFO("bench {}: batch {} prompt {}: prefill {:.0f} tok/s, decode {:.1f} tok/s", label, c.batch, c.prompt,
                  prefill_tps(c), decode_tps(c, gen));
      r.cases.push_back(std::move(c));
    }
  return r;
}

nlohmann::json to_json(const Measured& m, int gen) {
  nlohmann::json cases = nlohmann::json::array();
  for (const Case& c : m.cases)
    cases.push_back({{"batch", c.batch},
                     {"prompt", c.prompt},
                     {"generate", gen},
                     {"prefill_seconds", median(c.prefill)},
                     {"prefill_tokens_per_s", prefill_tps(c)},
                     {"decode_seconds", gen > 0 ? median(c.decode) : 0.0},
                     {"decode_tokens_per_s", decode_tps(c, gen)},
                     {"prefill_flops", c.prefill_flops},
                     {"decode_flops", c.decode_flops},
                     {"prefill_runs_seconds", c.prefill},
                     {"decode_runs_seconds", c.decode}});
  return {{"path", m.path},
          {"source", m.source},
          {"parameters", m.parameters},
          {"layer_weight_bytes", m.layer_bytes},
          {"lm_head_bytes", m.lm_head_bytes},
          {"decode_cuda_graph", m.decode_graph},
          {"cases", cases}};
}

void print_table(const std::vector<Measured>& all, int gen) {
  std::printf("%-9s %6s %7s %15s %14s %12s %14s\n", "model", "batch", "prompt", "prefill tok/s", "decode tok/s",
              "prefill ms", "decode ms/step");
  for (const Measured& m : all)
    for (const Case& c : m.cases)
      std::printf("%-9s %6d %7d %15.1f %14.2f %12.3f %14.3f\n", m.label.c_str(), c.batch, c.prompt, prefill_tps(c),
                  decode_tps(c, gen), 1e3 * median(c.prefill), gen > 0 ? 1e3 * median(c.decode) / gen : 0.0);
}

// model vs baseline, case by case: measured speedups and the FLOP ratio (baseline / model).
nlohmann::json speedups(const Measured& model, const Measured& base, int gen) {
  nlohmann::json out = nlohmann::json::array();
  std::printf("\n%-6s %7s %16s %16s %15s %15s\n", "batch", "prompt", "prefill speedup", "decode speedup",
              "prefill FLOPs", "decode FLOPs");
  for (size_t i = 0; i < model.cases.size(); ++i) {
    const Case &m = model.cases[i], &b = base.cases[i];
    const double ps = prefill_tps(m) / prefill_tps(b);
    const double ds = gen > 0 ? decode_tps(m, gen) / decode_tps(b, gen) : 0.0;
    const double pf = b.prefill_flops / m.prefill_flops, df = gen > 0 ? b.decode_flops / m.decode_flops : 0.0;
    std::printf("%-6d %7d %15.3fx %15.3fx %14.3fx %14.3fx\n", m.batch, m.prompt, ps, ds, pf, df);
    out.push_back({{"batch", m.batch},
                   {"prompt", m.prompt},
                   {"prefill_speedup", ps},
                   {"decode_speedup", ds},
                   {"prefill_flops_ratio", pf},
                   {"decode_flops_ratio", df}});
  }
  return out;
}

}  // namespace

int run_bench(const Args& args, const Config& user_cfg, Communicator& comm, int local_rank) {
  if (!comm.is_root()) return 0;  // one device: rank 0 measures alone
  std::unique_ptr<model::WeightSource> base_source;
  if (!args.baseline.empty()) base_source = open_baseline(args.baseline, user_cfg);  // bad folder: before any run
  std::unique_ptr<model::WeightSource> source = open_source(user_cfg);
  // Both models measure the same cases: the defaults are fitted to the shorter context.
  int ctx = source->config().max_positions;
  std::string what = user_cfg.model.path;
  if (base_source && base_source->config().max_positions < ctx) {
    ctx = base_source->config().max_positions;
    what = args.baseline;
  }
  const Config cfg = fit_defaults_to_context(user_cfg, ctx, what);
  const int gen = generated(cfg);
  std::vector<Measured> all;
  all.push_back(measure("model", cfg.model.path, std::move(source), cfg, local_rank));
  if (base_source) all.push_back(measure("baseline", args.baseline, std::move(base_source), cfg, local_rank));
  print_table(all, gen);
  nlohmann::json report = {{"command", "bench"},
                           {"version", STRUPRUNE_VERSION},
                           {"runtime",
                            {{"device", pick_device(cfg, local_rank).str()},
                             {"precision", to_string(cfg.runtime.precision)},
                             {"repeats", cfg.bench.repeats},
                             {"warmup", cfg.bench.warmup},
                             {"weights", "every layer resident"}}},
                           {"model", to_json(all[0], gen)},
                           {"config", cfg.effective}};
  if (all.size() == 2) {
    report["baseline"] = to_json(all[1], gen);
    report["speedup"] = speedups(all[0], all[1], gen);
  }
  std::fflush(stdout);
  fs::create_directories(cfg.output.dir);
  const std::string path = (fs::path(cfg.output.dir) / "bench.json").string();
  io::write_file_atomic(path, report.dump(2) + "\n");
  SP_LOG_INFO("bench: {}", path);
  return 0;
}

}  // namespace sp::cli
