#include "cli/commands.h"

#include <cstdio>

#include "cli/plan.h"
#include "cli/validate.h"
#include "core/log.h"

namespace sp::cli {
namespace {

// Validates on every rank (each rank will read the files itself), then prints the plan once.
Plan validate_and_plan(const Args& args, const Config& cfg, Communicator& comm) {
  SP_LOG_INFO("{}: validating config, model and data for '{}' on {} rank(s)", cfg.source, to_string(args.command),
              comm.size());
  const Inputs in = validate_inputs(cfg, args.command, args.resume);
  Plan plan = make_plan(cfg, in.model, comm.size());
  comm.barrier();  // every rank validated before anyone reports success
  if (comm.is_root()) {
    SP_LOG_DEBUG("effective configuration:\n{}", cfg.effective);
    std::fputs(format_plan(plan).c_str(), stdout);
    std::fflush(stdout);
    SP_LOG_INFO("checked {} (model.path): config.json{}", cfg.model.path,
                cfg.model.synthetic ? " (synthetic weights)"
                                    : fmt::format(" and {} tensors in the safetensors headers", in.checkpoint_tensors));
  }
  return plan;
}

int prune(const Args& args, const Config& cfg, Communicator& comm) {
  validate_and_plan(args, cfg, comm);
  if (args.dry_run) {
    SP_LOG_INFO("dry run: everything validated; nothing computed");
    return kExitOk;
  }
  SP_LOG_WARN("pruning is not implemented yet (next milestone): inputs validated and planned, nothing computed "
              "(exit code {})",
              kExitNotImplemented);
  return kExitNotImplemented;
}

int eval(const Args& args, const Config& cfg, Communicator& comm) {
  validate_and_plan(args, cfg, comm);
  if (args.dry_run) return kExitOk;
  SP_LOG_WARN("eval is not implemented yet (the model engine lands next): inputs validated, nothing computed "
              "(exit code {})",
              kExitNotImplemented);
  return kExitNotImplemented;
}

int generate(const Args& args, const Config& cfg, Communicator& comm) {
  validate_and_plan(args, cfg, comm);
  if (args.dry_run) return kExitOk;
  SP_LOG_WARN("generate is not implemented yet (the model engine lands next): exit code {}", kExitNotImplemented);
  return kExitNotImplemented;
}

}  // namespace

int run_command(const Args& args, const Config& cfg, Communicator& comm) {
  switch (args.command) {
    case Command::Prune: return prune(args, cfg, comm);
    case Command::Eval: return eval(args, cfg, comm);
    case Command::Generate: return generate(args, cfg, comm);
  }
  return kExitFailure;
}

}  // namespace sp::cli
