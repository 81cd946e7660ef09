#include "cli/commands.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <limits>
#include <memory>
#include <span>
#include <vector>

#include "cli/commands_export.h"
#include "cli/commands_model.h"
#include "cli/data_inputs.h"
#include "cli/plan.h"
#include "cli/session.h"
#include "cli/validate.h"
#include "core/error.h"
#include "core/log.h"
#include "dist/gpu_binding.h"
#include "io/output_lock.h"

namespace sp::cli {
namespace {

// Free bytes on the filesystem that will hold `dir` (its nearest existing ancestor); unknown: no limit.
int64_t free_bytes_at(const std::string& dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::path p = fs::absolute(dir, ec);
  while (!ec && !fs::exists(p, ec) && p.has_parent_path() && p != p.parent_path()) p = p.parent_path();
  const fs::space_info s = fs::space(p, ec);
  return ec ? std::numeric_limits<int64_t>::max() : int64_t(s.available);
}

// Bytes a resumed run finds under output.dir that count towards what it writes: its journal (the
// layers done) and the temporary checkpoint of the interrupted run (.<model_dir>.tmp.<pid>), which it
// removes before writing its own; each at most the plan's size of what it stands for.
int64_t bytes_resumed(const Config& cfg, const Plan& plan) {
  namespace fs = std::filesystem;
  std::error_code ec;
  int64_t journal = 0, checkpoint = 0;
  const std::string tmp = "." + cfg.output.model_dir + ".tmp.";
  for (const auto& e : fs::directory_iterator(cfg.output.dir, ec)) {
    const std::string name = e.path().filename().string();
    if (name != ".journal" && name.rfind(tmp, 0) != 0) continue;
    int64_t& total = name == ".journal" ? journal : checkpoint;
    for (const auto& f : fs::recursive_directory_iterator(e.path(), ec))
      if (f.is_regular_file(ec)) total += int64_t(f.file_size(ec));
  }
  return std::min(journal, plan.disk_journal) + std::min(checkpoint, plan.disk_checkpoint);
}

// Every rank's device by the binding rule, then (collectively) how many ranks share each GPU: the
// plan's collectives. A job whose ranks disagree on CPU or GPU is refused.
void place(Plan& plan, const Config& cfg, Communicator& comm, int local_rank) {
  const Device dev = pick_device(cfg, local_rank);
  const dist::Placement pl = dist::place_ranks(comm, dev);
  const auto gpu_ranks = std::count_if(pl.ids.begin(), pl.ids.end(), [](const std::string& id) { return !id.empty(); });
  SP_REQUIRE(gpu_ranks == 0 || gpu_ranks == comm.size(),
             "runtime.device = {}: {} of {} ranks see a GPU and the others none; give every rank a GPU or set "
             "runtime.device: cpu",
             cfg.runtime.device ? enum_name<DeviceType>(kDeviceTypeNames, *cfg.runtime.device) : "auto", gpu_ranks,
             comm.size());
  set_placement(plan, cfg, comm.size(), dev.is_cuda(), pl.max_ranks_per_gpu);
  const dist::LaunchEnv env = dist::read_launch_env();
  SP_LOG_DEBUG(
      "rank {}: node-local rank {}{}, {} visible GPU(s){} -> {}{}", comm.rank(), local_rank,
      env.local_source.empty() ? "" : fmt::format(" ({} {})", env.local_source, env.local_rank), cuda_device_count(),
      env.visible ? fmt::format(" (CUDA_VISIBLE_DEVICES {})", std::getenv("CUDA_VISIBLE_DEVICES")) : "", dev.str(),
      dev.is_cuda() ? fmt::format(" = {}, {} rank(s) on it", pl.ids[size_t(comm.rank())], pl.ranks_on_my_gpu) : "");
}

// The most ranks any node runs (local ranks are 0..n-1 on each node): the plan's host memory per node.
int ranks_per_node(Communicator& comm, int local_rank) {
  std::vector<double> local(size_t(comm.size()), 0.0);
  local[size_t(comm.rank())] = local_rank;
  if (comm.size() > 1) comm.allreduce_sum(std::span<double>(local));
  return int(*std::max_element(local.begin(), local.end())) + 1;
}

// Validates on every rank (each rank will read the files itself), then prints the plan once.
Plan validate_and_plan(const Args& args, const Config& cfg, Communicator& comm, int local_rank) {
  SP_LOG_INFO("{}: validating config, model and data for '{}' on {} rank(s)", cfg.source, to_string(args.command),
              comm.size());
  const ValidatedModel in = validate_inputs(cfg, args.command, args.resume);
  if (cfg.model.synthetic && comm.is_root())
    SP_LOG_WARN(
        "model.synthetic = true: SYNTHETIC random weights with the shapes of {}/config.json (seed {}), "
        "not a trained model",
        cfg.model.path, cfg.model.synthetic_seed);
  // prune: the evaluation windows set the evaluation hidden states of the memory estimate.
  std::vector<int> eval_windows;
  if (args.command == Command::Prune && !cfg.eval.datasets.empty()) {
    const auto tokenizer = load_tokenizer(cfg);
    const int32_t bos = bos_id(in.model, tokenizer.get());
    const int64_t seqlen = evaluation_seqlen(cfg, in.model);
    for (const auto& d : cfg.eval.datasets) {
      const size_t n_ids = data::load_eval_ids(eval_spec(d, in.model), tokenizer.get(), bos).size();
      eval_windows.push_back(int(eval_window_count(cfg, n_ids, seqlen)));
    }
  }
  Plan plan = make_plan(cfg, in.model, comm.size(), eval_windows);
  plan.ranks_per_node = ranks_per_node(comm, local_rank);
  // A --dry-run of a GPU config on a machine without one (a login node) still plans; the binding and
  // the collectives are then decided when the run starts.
  const bool gpu_later = args.dry_run && cfg.runtime.device == DeviceType::CUDA && cuda_device_count() == 0;
  if (args.command != Command::Tokenize && !gpu_later) place(plan, cfg, comm, local_rank);
  if (gpu_later)
    plan.warnings.push_back("no GPU visible here: the GPU binding and the collectives are decided when the run starts");
  // Rank 0 writes the outputs: a disk that cannot hold them fails now, not after hours of pruning.
  // A resumed run is checked too, for what it has still to write (its journal holds part of it).
  if (args.command == Command::Prune && comm.is_root())
    check_disk(cfg, plan, free_bytes_at(cfg.output.dir), args.resume ? bytes_resumed(cfg, plan) : 0);
  comm.barrier();  // every rank validated before anyone reports success
  if (comm.is_root()) {
    SP_LOG_DEBUG("effective configuration:\n{}", cfg.effective);
    // The pruning plan is the output of prune and of any --dry-run; the others only log.
    if (args.dry_run || args.command == Command::Prune) {
      std::fputs(format_plan(plan).c_str(), stdout);
      std::fflush(stdout);
    }
    SP_LOG_INFO("checked {} (model.path): config.json{}", cfg.model.path,
                cfg.model.synthetic ? " (synthetic weights)"
                                    : fmt::format(" and {} tensors in the safetensors headers", in.checkpoint_tensors));
  }
  return plan;
}

int prune(const Args& args, const Config& cfg, Communicator& comm, int local_rank) {
  const Plan plan = validate_and_plan(args, cfg, comm, local_rank);
  if (args.dry_run) {
    SP_LOG_INFO("dry run: everything validated; nothing computed");
    return kExitOk;
  }
  return run_prune(args, cfg, plan, comm, local_rank);
}

int eval(const Args& args, const Config& cfg, Communicator& comm, int local_rank) {
  validate_and_plan(args, cfg, comm, local_rank);
  if (args.dry_run) return kExitOk;
  return run_eval(args, cfg, comm, local_rank);
}

int tokenize(const Args& args, const Config& cfg, Communicator& comm) {
  validate_and_plan(args, cfg, comm, 0);
  if (args.dry_run) return kExitOk;
  return run_tokenize(cfg, comm);
}

int generate(const Args& args, const Config& cfg, Communicator& comm, int local_rank) {
  validate_and_plan(args, cfg, comm, local_rank);
  if (args.dry_run) return kExitOk;
  return run_generate(args, cfg, comm, local_rank);
}

int bench(const Args& args, const Config& cfg, Communicator& comm, int local_rank) {
  validate_and_plan(args, cfg, comm, local_rank);
  if (args.dry_run) return kExitOk;
  return run_bench(args, cfg, comm, local_rank);
}

// Commands that write into output.dir (generate prints only; a dry run writes nothing).
bool writes_output_dir(const Args& args) { return !args.dry_run && args.command != Command::Generate; }

// Rank 0 takes output.dir's lock; every rank learns the outcome before any work, and a refusal ends
// every rank with the same error (exit 75 for a live owner) instead of leaving peers in a collective.
std::unique_ptr<io::OutputLock> lock_output_dir(const Config& cfg, Communicator& comm) {
  std::unique_ptr<io::OutputLock> lock;
  int32_t kind = 0;  // 0 taken, 1 busy, 2 input error, 3 I/O error, 4 other failure
  std::string what;
  if (comm.is_root()) {
    try {
      lock = std::make_unique<io::OutputLock>(cfg.output.dir);
    } catch (const BusyError& e) {
      kind = 1, what = e.what();
    } catch (const InputError& e) {
      kind = 2, what = e.what();
    } catch (const IoError& e) {
      kind = 3, what = e.what();
    } catch (const std::exception& e) {
      kind = 4, what = e.what();
    }
  }
  if (comm.size() > 1) {
    int32_t head[2] = {kind, int32_t(what.size())};
    comm.broadcast(std::span<uint8_t>(reinterpret_cast<uint8_t*>(head), sizeof head), 0);
    kind = head[0];
    what.resize(size_t(head[1]));
    if (!what.empty()) comm.broadcast(std::span<uint8_t>(reinterpret_cast<uint8_t*>(what.data()), what.size()), 0);
  }
  if (kind == 1) throw BusyError(what);
  if (kind == 2) throw InputError(what);
  if (kind == 3) throw IoError(what);
  if (kind == 4) throw RuntimeFailure(what);
  return lock;
}

}  // namespace

int run_command(const Args& args, const Config& cfg, Communicator& comm, int local_rank) {
  // Held until the command returns or throws: one run per output folder (io/output_lock.h).
  const std::unique_ptr<io::OutputLock> lock = writes_output_dir(args) ? lock_output_dir(cfg, comm) : nullptr;
  switch (args.command) {
    case Command::Prune:
      return prune(args, cfg, comm, local_rank);
    case Command::Eval:
      return eval(args, cfg, comm, local_rank);
    case Command::Generate:
      return generate(args, cfg, comm, local_rank);
    case Command::Tokenize:
      return tokenize(args, cfg, comm);
    case Command::Bench:
      return bench(args, cfg, comm, local_rank);
    case Command::Export:
      return run_export(args, cfg, comm);
  }
  return kExitFailure;
}

}  // namespace sp::cli
