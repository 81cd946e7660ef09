#include "cli/commands_model.h"

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "cli/data_inputs.h"
#include "cli/plan.h"
#include "cli/session.h"
#include "core/context.h"
#include "core/device.h"
#include "core/error.h"
#include "core/log.h"
#include "core/ranges.h"
#include "io/atomic_file.h"
#include "model/evaluate.h"
#include "model/model.h"
#include "model/weight_source.h"
#include "struprune/version.h"
#include "tokenize/dataset.h"
#include "tokenize/tokenizer.h"

namespace sp::cli {
namespace fs = std::filesystem;
namespace {

struct EvalRow {
  std::string name;
  int64_t windows = 0, tokens = 0;
  double mean_nll = 0, ppl = 0, seconds = 0;
};

// Windows are split over the ranks in contiguous ranges of whole batches; each window's NLL is
// computed the same way whichever rank holds it, and the per-window values are summed in window
// order on every rank, so the perplexity is bitwise the same for any number of ranks.
EvalRow eval_dataset(Loaded& l, const EvalDataset& d, int seqlen, const Config& cfg, Communicator& comm) {
  const auto ids = data::load_eval_ids(eval_spec(d, l.model->config()), l.tokenizer.get(), l.bos);
  const int64_t windows = eval_window_count(cfg, ids.size(), seqlen);
  SP_REQUIRE(windows > 0, "{}: {} tokens, fewer than one window of eval.seqlen = {}", d.path, ids.size(), seqlen);
  const int batch = int(cfg.eval.batch);
  const auto [first, count] = batch_aligned_range(int(windows), batch, comm.rank(), comm.size());
  std::vector<double> nll(size_t(windows), 0.0);  // this rank's windows filled, zeros elsewhere
  double seconds = 0;
  if (count > 0) {
    const std::span<const int32_t> mine(ids.data() + int64_t(first) * seqlen, size_t(int64_t(count) * seqlen));
    const auto r = model::perplexity(*l.model, *l.ctx, mine, seqlen, batch, count);
    std::copy(r.window_nll.begin(), r.window_nll.end(), nll.begin() + first);
    seconds = r.seconds;
  }
  comm.allreduce_sum(std::span<double>(nll));  // exact: one non-zero term per window
  std::vector<double> t = {seconds};
  comm.allreduce_max(std::span<double>(t));
  double total = 0.0;
  for (double v : nll) total += v;
  const int64_t tokens = windows * (seqlen - 1);
  EvalRow row{d.name, windows, tokens, total / double(tokens), 0.0, t[0]};
  row.ppl = std::exp(row.mean_nll);
  SP_REQUIRE(std::isfinite(row.ppl), "{}: perplexity is not finite (mean NLL {})", d.path, row.mean_nll);
  SP_LOG_INFO("eval {}: {} windows of {} tokens, ppl {:.4f} ({:.1f} s)", d.name, windows, seqlen, row.ppl, t[0]);
  return row;
}

}  // namespace

int run_eval(const Args& args, const Config& cfg, Communicator& comm, int local_rank) {
  Loaded l = load(cfg, local_rank);
  l.model->pad_mlp_widths(model::kMlpTileMultiple);
  const auto& mc = l.model->config();
  const int seqlen = int(evaluation_seqlen(cfg, mc));
  std::vector<EvalRow> rows;
  for (const auto& d : cfg.eval.datasets) rows.push_back(eval_dataset(l, d, seqlen, cfg, comm));
  // Peak bytes of tensors each rank held on its compute device (library workspaces excluded).
  std::vector<int64_t> peaks;
  for (const std::string& p : comm.allgather(std::to_string(memory_stats(l.ctx->device().type).peak)))
    peaks.push_back(std::stoll(p));
  if (!comm.is_root()) return 0;

  std::printf("%-16s %8s %10s %12s %12s %9s\n", "dataset", "windows", "tokens", "mean NLL", "perplexity", "seconds");
  nlohmann::json sets = nlohmann::json::object();
  for (const auto& r : rows) {
    std::printf("%-16s %8lld %10lld %12.6f %12.4f %9.2f\n", r.name.c_str(), (long long)r.windows, (long long)r.tokens,
                r.mean_nll, r.ppl, r.seconds);
    sets[r.name] = {{"perplexity", r.ppl},       {"mean_nll", r.mean_nll}, {"windows", r.windows},
                    {"scored_tokens", r.tokens}, {"seqlen", seqlen},       {"seconds", r.seconds}};
  }
  std::fflush(stdout);
  const nlohmann::json report = {{"command", "eval"},
                                 {"version", STRUPRUNE_VERSION},
                                 {"model",
                                  {{"path", cfg.model.path},
                                   {"source", l.model->source().describe()},
                                   {"model_type", mc.model_type},
                                   {"parameters", prune::count_model_params(mc)}}},
                                 {"runtime",
                                  {{"ranks", comm.size()},
                                   {"device", l.ctx->device().str()},
                                   {"precision", to_string(cfg.runtime.precision)},
                                   {"peak_memory_bytes_per_rank", peaks}}},
                                 {"eval", sets},
                                 {"config", cfg.effective}};
  fs::create_directories(cfg.output.dir);
  const std::string path = (fs::path(cfg.output.dir) / cfg.output.report).string();
  io::write_file_atomic(path, report.dump(2) + "\n");
  SP_LOG_INFO("report: {}", path);
  return 0;
}

int run_generate(const Args& args, const Config& cfg, Communicator& comm, int local_rank) {
  if (!comm.is_root()) return 0;  // one sequence: rank 0 decodes it alone
  Loaded l = load(cfg, local_rank);
  l.model->pad_mlp_widths(model::kMlpTileMultiple);
  l.model->fuse_projections(true);
  SP_REQUIRE(l.tokenizer != nullptr, "{}: generate needs a tokenizer", cfg.model.path);
  std::vector<int32_t> prompt = l.tokenizer->encode(args.prompt);
  if (l.bos >= 0) prompt.insert(prompt.begin(), l.bos);
  const int eos = l.model->config().eos_token_id;
  const auto out = model::generate_greedy(*l.model, *l.ctx, prompt, args.max_new_tokens, eos, cfg.runtime.cuda_graphs);
  SP_LOG_INFO("generated ids: [{}]", fmt::join(out, ", "));  // for exact comparisons (tests)
  std::printf("%s%s\n", args.prompt.c_str(), l.tokenizer->decode(out).c_str());
  std::fflush(stdout);
  return 0;
}

}  // namespace sp::cli
