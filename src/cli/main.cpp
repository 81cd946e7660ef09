// struprune-dist entry point (struprune::run_command_line, the public API; main() calls it): MPI,
// logging with the rank, the command line and the config, then one subcommand. Exit status by error kind (InputError
// 2, BusyError 75, IoError 74, anything else 1); with more than one rank a failure ends the job through
// dist::abort_job (the registered NCCL communicators aborted, then MPI_Abort) so that no peer hangs in a collective.
// Nothing on the way there waits for a peer or for the device (docs/architecture.md, "Process model").
#include <cstdio>
#include <exception>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/config_schema.h"
#include "core/error.h"
#include "core/log.h"
#include "dist/job_abort.h"
#include "dist/mpi_communicator.h"
#include "struprune/struprune.h"
#include "struprune/version.h"

namespace {

int run(int argc, char** argv, sp::Communicator& comm) {
  using namespace sp::cli;
  const Args args = parse_args(argc, argv);
  if (args.help || args.version || args.config_reference) {
    if (comm.is_root()) {
      if (args.version) std::printf("struprune-dist %s\n", STRUPRUNE_VERSION);
      if (args.help) std::fputs(args.help_text.c_str(), stdout);
      if (args.config_reference) std::fputs(config_reference_markdown().c_str(), stdout);
    }
    return kExitOk;
  }
  const Config cfg = load_config(args.config, args.overrides);
  sp::log_init(comm.rank(), comm.size(), sp::parse_log_level(cfg.logging.level), cfg.logging.all_ranks);
  return run_command(args, cfg, comm, sp::dist::local_rank());
}

}  // namespace

namespace struprune {

const char* version() { return STRUPRUNE_VERSION; }

int run_command_line(int argc, char** argv) {
  sp::dist::MpiRuntime mpi(&argc, &argv);
  sp::dist::install_terminate_handler();
  auto comm = sp::dist::make_mpi_communicator();
  sp::log_init(comm->rank(), comm->size(), sp::LogLevel::Info);
  int code = sp::cli::kExitOk;
  try {
    code = run(argc, argv, *comm);
  } catch (const sp::InputError& e) {
    SP_LOG_ERROR("error: {}", e.what());
    code = sp::cli::kExitInputError;
  } catch (const sp::BusyError& e) {
    SP_LOG_ERROR("busy: {}", e.what());
    code = sp::cli::kExitBusy;
  } catch (const sp::IoError& e) {
    SP_LOG_ERROR("I/O failure: {}", e.what());
    code = sp::cli::kExitIoError;
  } catch (const std::exception& e) {
    SP_LOG_ERROR("failure: {}", e.what());
    code = sp::cli::kExitFailure;
  } catch (...) {
    SP_LOG_ERROR("failure: an exception of unknown type");
    code = sp::cli::kExitFailure;
  }
  // Every failure of a multi-rank job ends all of it (no peer may hang in a collective).
  if (code != sp::cli::kExitOk && comm->size() > 1) sp::dist::abort_job(code);
  return code;
}

}  // namespace struprune

int main(int argc, char** argv) { return struprune::run_command_line(argc, argv); }
