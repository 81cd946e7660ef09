#pragma once
// The subcommands. Each returns the process exit code (0 ok); errors are
// thrown (InputError -> 2, anything else -> 1, see main.cpp).
#include "cli/args.h"
#include "cli/config_schema.h"
#include "core/communicator.h"

namespace sp::cli {

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;
inline constexpr int kExitInputError = 2;
inline constexpr int kExitIoError = 74;  // sysexits EX_IOERR: disk full, I/O failure (IoError)
inline constexpr int kExitBusy = 75;     // sysexits EX_TEMPFAIL: output.dir locked by a live run (BusyError)

// local_rank: this process's rank on its node (picks the GPU).
int run_command(const Args& args, const Config& cfg, Communicator& comm, int local_rank);

}  // namespace sp::cli
