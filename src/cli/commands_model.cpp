#include "cli/commands_model.h"

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "cli/plan.h"
#include "core/context.h"
#include "core/device.h"
#include "core/error.h"
#include "core/log.h"
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

Device pick_device(const Config& cfg, int local_rank) {
  const int gpus = cuda_device_count();
  switch (cfg.runtime.device) {
    case RuntimeDevice::Cpu:
      return Device::cpu();
    case RuntimeDevice::Cuda:
      SP_REQUIRE(gpus > 0, "runtime.device = cuda, but no CUDA GPU is visible{}",
                 built_with_cuda() ? "" : " (this binary was built without CUDA)");
      return Device::cuda(local_rank % gpus);
    case RuntimeDevice::Auto:
      break;
  }
  return gpus > 0 ? Device::cuda(local_rank % gpus) : Device::cpu();
}

sp::Precision to_precision(cli::Precision p) {
  switch (p) {
    case cli::Precision::FP32:
      return sp::Precision::Exact32;
    case cli::Precision::BF16:
      return sp::Precision::BF16;
    case cli::Precision::FP16:
      return sp::Precision::F16;
  }
  return sp::Precision::Exact32;
}

data::Format to_data_format(DataFormat f) {
  switch (f) {
    case DataFormat::Auto:
      return data::Format::Auto;
    case DataFormat::Text:
      return data::Format::Text;
    case DataFormat::Jsonl:
      return data::Format::Jsonl;
    case DataFormat::Wikitext:
      return data::Format::Wikitext;
    case DataFormat::Ids:
      return data::Format::Ids;
  }
  return data::Format::Auto;
}

std::unique_ptr<model::WeightSource> open_source(const Config& cfg) {
  if (cfg.model.synthetic)
    return model::open_synthetic_source((fs::path(cfg.model.path) / "config.json").string(),
                                        uint64_t(cfg.model.synthetic_seed));
  return model::open_checkpoint_source(cfg.model.path);
}

struct Loaded {
  std::unique_ptr<ExecContext> ctx;
  std::unique_ptr<model::Model> model;
  std::unique_ptr<tok::Tokenizer> tokenizer;
  int32_t bos = -1;
};

Loaded load(const Config& cfg, int local_rank) {
  Loaded l;
  const Device dev = pick_device(cfg, local_rank);
  l.ctx = std::make_unique<ExecContext>(dev);
  l.model = std::make_unique<model::Model>(open_source(cfg), *l.ctx, to_precision(cfg.runtime.precision));
  const std::string& t = cfg.model.tokenizer;
  l.tokenizer = t.empty()                ? tok::Tokenizer::from_model_dir(cfg.model.path)
                : fs::is_regular_file(t) ? tok::Tokenizer::from_tokenizer_json(t)
                                         : tok::Tokenizer::from_model_dir(t);
  // The model's config.json names the BOS the reference protocols put in front (OPT: </s>).
  l.bos = l.model->config().bos_token_id >= 0 ? l.model->config().bos_token_id : l.tokenizer->bos_id();
  SP_LOG_INFO("loaded {} on {} ({} precision)", l.model->source().describe(), dev.str(),
              to_string(cfg.runtime.precision));
  return l;
}

struct EvalRow {
  std::string name;
  int64_t windows = 0, tokens = 0;
  double mean_nll = 0, ppl = 0, seconds = 0;
};

// Windows are split in contiguous balanced ranges over the ranks; NLL sums are combined with the
// fixed-order allreduce, so the result does not depend on the rank count beyond fp64 rounding.
EvalRow eval_dataset(Loaded& l, const EvalDataset& d, int seqlen, const Config& cfg, Communicator& comm) {
  const auto ids = data::load_eval_ids({d.path, to_data_format(d.format), d.text_field}, l.tokenizer.get(), l.bos);
  int64_t windows = int64_t(ids.size()) / seqlen;
  if (cfg.eval.max_windows > 0) windows = std::min<int64_t>(windows, cfg.eval.max_windows);
  SP_REQUIRE(windows > 0, "{}: {} tokens, fewer than one window of eval.seqlen = {}", d.path, ids.size(), seqlen);
  const auto [first, count] = shard_layers(int(windows), comm.size())[size_t(comm.rank())];
  std::vector<double> acc = {0.0, 0.0};  // NLL sum, scored tokens
  double seconds = 0;
  if (count > 0) {
    const std::span<const int32_t> mine(ids.data() + int64_t(first) * seqlen, size_t(int64_t(count) * seqlen));
    const auto r = model::perplexity(*l.model, *l.ctx, mine, seqlen, int(cfg.eval.batch), count);
    acc = {r.mean_nll * double(r.tokens), double(r.tokens)};
    seconds = r.seconds;
  }
  comm.allreduce_sum(std::span<double>(acc));
  std::vector<double> t = {seconds};
  comm.allreduce_max(std::span<double>(t));
  EvalRow row{d.name, windows, int64_t(acc[1]), acc[0] / acc[1], 0.0, t[0]};
  row.ppl = std::exp(row.mean_nll);
  SP_LOG_INFO("eval {}: {} windows of {} tokens, ppl {:.4f} ({:.1f} s)", d.name, windows, seqlen, row.ppl, t[0]);
  return row;
}

}  // namespace

int run_eval(const Args& args, const Config& cfg, Communicator& comm, int local_rank) {
  Loaded l = load(cfg, local_rank);
  const auto& mc = l.model->config();
  const int seqlen = int(cfg.eval.seqlen > 0 ? cfg.eval.seqlen : mc.max_positions);
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
  const nlohmann::json report = {
      {"command", "eval"},
      {"version", STRUPRUNE_VERSION},
      {"model",
       {{"path", cfg.model.path},
        {"source", l.model->source().describe()},
        {"model_type", mc.model_type},
        {"parameters", count_model_params(mc)}}},
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
  std::vector<int32_t> prompt = l.tokenizer->encode(args.prompt);
  if (l.bos >= 0) prompt.insert(prompt.begin(), l.bos);
  const int eos = l.model->config().eos_token_id;
  const auto out = model::generate_greedy(*l.model, *l.ctx, prompt, args.max_new_tokens, eos);
  std::printf("%s%s\n", args.prompt.c_str(), l.tokenizer->decode(out).c_str());
  std::fflush(stdout);
  return 0;
}

}  // namespace sp::cli
