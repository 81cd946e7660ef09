// The prune subcommand: calibration and evaluation windows, the StructPrune pipeline, the outputs
// (pruned checkpoint, masks.h5) and report.json.
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>

#include "cli/commands.h"
#include "cli/commands_export.h"
#include "cli/commands_model.h"
#include "cli/data_inputs.h"
#include "cli/plan.h"
#include "cli/resume_inputs.h"
#include "cli/session.h"
#include "core/error.h"
#include "core/log.h"
#include "core/trace_range.h"
#include "dist/device_communicator.h"
#include "io/atomic_file.h"
#include "persist/journal.h"
#include "persist/outputs.h"
#include "persist/report.h"
#include "prune/pipeline.h"
#include "struprune/version.h"
#include "tokenize/sampling.h"

namespace sp::cli {
namespace fs = std::filesystem;
namespace {

// The calibration windows, then with prune.probe_held_out the KL probe's own windows and with
// prune.refine_rounds the refinement's: drawn after them from the same seeded sequence (the
// statistics' windows are those of a run without them).
void sample_windows(const Config& cfg, Loaded& l, int seqlen, prune::RunSetup& in) {
  const data::DataSpec spec = calibration_spec(cfg, l.model->config());
  const int64_t probes = held_out_probe_windows(cfg), refine = refine_windows(cfg);
  const auto windows = data::sample_calibration(spec, l.tokenizer.get(), cfg.calibration.nsamples + probes + refine,
                                                seqlen, uint64_t(cfg.calibration.seed), l.bos);
  auto take = [&](const char* name, size_t first, size_t count) {
    prune::TokenWindows w{name, {}, int(count), seqlen};
    for (size_t i = first; i < first + count; ++i) w.ids.insert(w.ids.end(), windows[i].begin(), windows[i].end());
    return w;
  };
  in.calibration = take("calibration", 0, size_t(cfg.calibration.nsamples));
  if (probes > 0) in.probe = take("probe", size_t(cfg.calibration.nsamples), size_t(probes));
  if (refine > 0) in.refine = take("refine", size_t(cfg.calibration.nsamples + probes), size_t(refine));
}

prune::TokenWindows eval_windows(const Config& cfg, Loaded& l, const EvalDataset& d, int seqlen) {
  auto ids = data::load_eval_ids(eval_spec(d, l.model->config()), l.tokenizer.get(), l.bos);
  const int64_t n = eval_window_count(cfg, ids.size(), seqlen);
  SP_REQUIRE(n > 0, "{}: {} tokens, fewer than one window of eval.seqlen = {}", d.path, ids.size(), seqlen);
  ids.resize(size_t(n * seqlen));
  return {d.name, std::move(ids), int(n), seqlen};
}

// The process's peak resident set so far (Linux: VmHWM, ru_maxrss in KiB): heap, stacks, libraries and
// the checkpoint's mmapped pages that were read.
double peak_resident_bytes() {
  struct rusage u {};
  return ::getrusage(RUSAGE_SELF, &u) == 0 ? double(u.ru_maxrss) * 1024.0 : 0.0;
}

nlohmann::json report_json(const Config& cfg, const Loaded& l, const prune::PruneResult& r, const Communicator& comm,
                           int eval_seqlen, const persist::OutputWriter& out, const std::vector<double>& peaks,
                           const std::vector<double>& host_peaks, const Plan& plan) {
  std::vector<int64_t> estimates, host_estimates;  // the dry-run plan's, per rank
  for (const RankShard& s : plan.shards) {
    estimates.push_back(s.memory.peak());
    host_estimates.push_back(s.host.total());
  }
  nlohmann::json j = {
      {"command", "prune"},
      {"version", STRUPRUNE_VERSION},
      {"model",
       {{"path", cfg.model.path},
        {"source", l.model->source().describe()},
        {"model_type", l.model->config().model_type},
        {"parameters", prune::count_model_params(l.model->config())},
        {"parameters_after", prune::count_model_params(r.pruned_config)}}},
      {"prune", persist::prune_json(r, cfg.prune.sparsity, cfg.prune.temperature)},
      {"perplexity_before", persist::perplexity_json(r.before, eval_seqlen)},
      {"perplexity_after", persist::perplexity_json(r.after, eval_seqlen)},
      {"seconds", persist::seconds_json(r)},
      {"runtime",
       {{"ranks", comm.size()},
        {"device", l.ctx->device().str()},
        {"collectives", plan.collectives},
        {"ranks_per_gpu", plan.ranks_per_gpu},
        {"precision", to_string(cfg.runtime.precision)},
        {"calibration_batch", plan.calib_batch},
        {"hidden_states", plan.host_states ? "host" : "device"},
        {"peak_memory_bytes_per_rank", std::vector<int64_t>(peaks.begin(), peaks.end())},
        {"estimated_peak_memory_bytes_per_rank", estimates},
        {"ranks_per_node", plan.ranks_per_node},
        {"estimated_host_memory_bytes_per_rank", host_estimates},
        {"estimated_host_memory_bytes_per_node", plan.host_per_node()},
        {"peak_host_memory_bytes_per_rank", std::vector<int64_t>(host_peaks.begin(), host_peaks.end())},
        {"peak_host_memory_bytes_max", int64_t(*std::max_element(host_peaks.begin(), host_peaks.end()))}}},
      {"outputs",
       {{"masks", out.masks_path()},
        {"checkpoint", cfg.output.checkpoint == CheckpointForm::None ? "" : out.model_path()},
        {"checkpoint_form", to_string(cfg.output.checkpoint)}}},
      {"config", cfg.effective}};
  if (range_seconds_on())  // STRUPRUNE_RANGE_SECONDS=1: the device time of every named range
    for (const auto& [name, t] : range_seconds())
      j["range_seconds"][name] = {{"seconds", t.seconds}, {"count", t.count}};
  return j;
}

// What was removed, in two lines: the parameter counts, then each layer's kept query heads / KV heads /
// MLP neurons against the original's (one compact line whatever the depth).
void print_summary(const prune::PruneResult& r, const io::ModelConfig& original) {
  std::printf("pruned %lld of %lld prunable parameters: sparsity %.4f (target %.4f)\n", (long long)r.removed_params,
              (long long)r.prunable_params, r.achieved_sparsity(), r.options.sparsity);
  const int64_t before = prune::count_model_params(original), after = prune::count_model_params(r.pruned_config);
  std::printf("model: %lld -> %lld parameters (%.1f%% fewer)\n", (long long)before, (long long)after,
              before ? 100.0 * double(before - after) / double(before) : 0.0);
  if (!original.layers.empty()) {
    const io::LayerShape o = original.max_layer();
    std::string kept;
    for (const auto& x : r.layers)
      kept += fmt::format(" {}/{}/{}", x.shape.n_heads, x.shape.n_kv_heads, x.shape.intermediate);
    std::printf("kept per layer (query heads/KV heads/MLP neurons, of %d/%d/%d):%s\n", o.n_heads, o.n_kv_heads,
                o.intermediate, kept.c_str());
  }
  std::printf("%-16s %14s %14s\n", "dataset", "ppl before", "ppl after");
  for (size_t i = 0; i < r.after.size(); ++i)
    std::printf("%-16s %14.4f %14.4f\n", r.after[i].name.c_str(), i < r.before.size() ? r.before[i].ppl : 0.0,
                r.after[i].ppl);
  std::fflush(stdout);
}

}  // namespace

int run_prune(const Args& args, const Config& cfg, const Plan& plan, Communicator& comm, int local_rank) {
  // Every rank pushes its share of the calibration and evaluation windows through each layer; the
  // statistics are summed over the ranks exactly, so every rank reaches the same masks and weights
  // (pipeline.h). Rank 0 writes the outputs.
  const auto t_start = std::chrono::steady_clock::now();
  const auto since = [](std::chrono::steady_clock::time_point t) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
  };
  Loaded l = load(cfg, local_rank);
  const io::ModelConfig& mc = l.model->config();
  check_gguf_output(cfg, mc);
  // The plan's window lengths, so the memory estimate and the run see the same windows.
  const int calib_seqlen = int(plan.calib_seqlen);
  const int eval_seqlen = int(plan.eval_seqlen);

  persist::OutputSpec spec;
  spec.dir = cfg.output.dir;
  spec.model_dir = cfg.output.model_dir;
  spec.masks = cfg.output.masks;
  spec.checkpoint = cfg.output.checkpoint;
  // The schema and its cross-check bound output.max_shard_gb to [1 byte, 2^50 bytes]: the cast is exact enough.
  const double shard_bytes = cfg.output.max_shard_gb * double(1ull << 30);
  SP_CHECK(shard_bytes >= 1.0 && shard_bytes <= 0x1p50, "output.max_shard_gb = {} out of range",
           cfg.output.max_shard_gb);
  spec.max_shard_bytes = size_t(shard_bytes);
  spec.overwrite = cfg.output.overwrite || args.resume;
  spec.tokenizer_dir = cfg.model.synthetic ? "" : (cfg.model.tokenizer.empty() ? cfg.model.path : cfg.model.tokenizer);
  if (!spec.tokenizer_dir.empty() && fs::is_regular_file(spec.tokenizer_dir))
    spec.tokenizer_dir = fs::path(spec.tokenizer_dir).parent_path().string();
  const std::string report_path = (fs::path(cfg.output.dir) / cfg.output.report).string();
  SP_REQUIRE(spec.overwrite || !fs::exists(report_path),
             "{} already exists: set output.overwrite: true to replace it, or choose another output.dir", report_path);
  prune::RunSetup in;
  sample_windows(cfg, l, calib_seqlen, in);
  for (const auto& d : cfg.eval.datasets) in.eval.push_back(eval_windows(cfg, l, d, eval_seqlen));
  in.batch = plan.calib_batch;  // calibration.batch, or less to fit runtime.memory_budget_gb
  in.states = plan.host_states ? model::Residence::Host : model::Residence::Device;
  in.eval_before = cfg.eval.before;
  in.output_dtype = output_dtype(cfg, mc);

  // The journal first: a resume with other inputs is refused before anything is written.
  const std::string identity = cfg.model.synthetic ? fmt::format("synthetic seed {}", cfg.model.synthetic_seed)
                                                   : persist::checkpoint_identity(cfg.model.path);
  // A resume validates the whole journal here; a damaged one is refused before any output is touched.
  std::optional<persist::Journal> journal;
  if (cfg.output.journal) {
    const prune::PruneOptions opt = prune_options(cfg);
    journal.emplace(cfg.output.dir, resume_inputs(cfg, identity, in, l.ctx->device()), args.resume, comm.is_root(),
                    persist::JournalExpect{mc, opt.attention, opt.mlp, in.output_dtype});
    // Every rank must replay the same journal (a node may see another filesystem state): checked
    // before any collective of the prune.
    persist::require_same_journal(comm, *journal);
  }
  if (comm.size() > 1) comm.barrier();  // rank 0 has set the journal up before the others use it
  std::optional<persist::OutputWriter> out;
  if (comm.is_root()) out.emplace(spec, *l.ctx, mc, cfg.prune.structures.attention);
  const prune::LayerSink sink = out ? out->sink() : prune::LayerSink([](const auto&, const auto&) {});

  // The plan's collectives (runtime.communicator): NCCL sums on the devices; with mpi (CPU runs, and
  // ranks sharing a GPU) the MPI communicator stages device tensors through page-locked host memory.
  const std::unique_ptr<Communicator> device_comm = dist::make_device_communicator(plan.collectives, l.ctx->device());
  reset_peak_memory(l.ctx->device().type);
  const double setup_s = since(t_start);
  prune::PruneResult r = prune::run_pipeline(*l.model, *l.ctx, device_comm ? *device_comm : comm, prune_options(cfg),
                                             in, sink, journal ? &*journal : nullptr);
  std::vector<double> peaks(size_t(comm.size()), 0.0);
  peaks[size_t(comm.rank())] = double(memory_stats(l.ctx->device().type).peak);
  comm.allreduce_sum(std::span<double>(peaks));
  // The host peak as the pipeline ends; rank 0's again after the outputs' last shard (below).
  std::vector<double> host_peaks(size_t(comm.size()), 0.0);
  host_peaks[size_t(comm.rank())] = peak_resident_bytes();
  comm.allreduce_sum(std::span<double>(host_peaks));
  if (!comm.is_root()) {
    comm.barrier();  // rank 0 writes; an error there aborts the job
    return kExitOk;
  }

  // Outside the pipeline's own phases: the device, the model's globals, the windows, the journal and
  // the writer before it (`setup`); the outputs' last files after it (`finish`, up to the report itself).
  const auto t_finish = std::chrono::steady_clock::now();
  r.seconds["setup"] = setup_s;
  persist::RunInfo info;
  info.config_yaml = cfg.effective;
  info.model_path = cfg.model.path;
  info.model_identity = identity;
  info.version = STRUPRUNE_VERSION;
  info.ranks = comm.size();
  info.device = l.ctx->device().str();
  out->finish(r, l.model->globals(), in.output_dtype, info);
  write_gguf_output(cfg);  // output.gguf: the pruned checkpoint for llama.cpp
  r.seconds["finish"] = since(t_finish);
  host_peaks[size_t(comm.rank())] = peak_resident_bytes();
  io::write_file_atomic(report_path,
                        report_json(cfg, l, r, comm, eval_seqlen, *out, peaks, host_peaks, plan).dump(2) + "\n");
  if (journal) journal->remove();  // the outputs are final
  print_summary(r, mc);
  SP_LOG_INFO("report: {}", report_path);
  if (comm.size() > 1) comm.barrier();
  return kExitOk;
}

}  // namespace sp::cli
