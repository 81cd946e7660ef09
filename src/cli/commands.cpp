#include "cli/commands.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <limits>

#include "cli/commands_export.h"
#include "cli/commands_model.h"
#include "cli/data_inputs.h"
#include "cli/plan.h"
#include "cli/validate.h"
#include "core/log.h"

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

// Validates on every rank (each rank will read the files itself), then prints the plan once.
Plan validate_and_plan(const Args& args, const Config& cfg, Communicator& comm) {
  SP_LOG_INFO("{}: validating config, model and data for '{}' on {} rank(s)", cfg.source, to_string(args.command),
              comm.size());
  const Inputs in = validate_inputs(cfg, args.command, args.resume);
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
  // Rank 0 writes the outputs: a disk that cannot hold them fails now, not after hours of pruning.
  // A resumed run's journal already holds part of it.
  if (args.command == Command::Prune && comm.is_root() && !args.resume)
    check_disk(cfg, plan, free_bytes_at(cfg.output.dir));
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
  const Plan plan = validate_and_plan(args, cfg, comm);
  if (args.dry_run) {
    SP_LOG_INFO("dry run: everything validated; nothing computed");
    return kExitOk;
  }
  return run_prune(args, cfg, plan, comm, local_rank);
}

int eval(const Args& args, const Config& cfg, Communicator& comm, int local_rank) {
  validate_and_plan(args, cfg, comm);
  if (args.dry_run) return kExitOk;
  return run_eval(args, cfg, comm, local_rank);
}

int tokenize(const Args& args, const Config& cfg, Communicator& comm) {
  validate_and_plan(args, cfg, comm);
  if (args.dry_run) return kExitOk;
  return run_tokenize(cfg, comm);
}

int generate(const Args& args, const Config& cfg, Communicator& comm, int local_rank) {
  validate_and_plan(args, cfg, comm);
  if (args.dry_run) return kExitOk;
  return run_generate(args, cfg, comm, local_rank);
}

int bench(const Args& args, const Config& cfg, Communicator& comm, int local_rank) {
  validate_and_plan(args, cfg, comm);
  if (args.dry_run) return kExitOk;
  return run_bench(args, cfg, comm, local_rank);
}

}  // namespace

int run_command(const Args& args, const Config& cfg, Communicator& comm, int local_rank) {
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
