#pragma once
// struprune-dist public API. Only standard headers here: no CUDA, MPI or HDF5 types leak out.
//
// The service is driven by its YAML config (docs/config.md) and command line (docs/cli.md);
// embedding it means calling the same entry point the `struprune-dist` binary calls.

namespace struprune {

// Version string of the library ("MAJOR.MINOR.PATCH").
const char* version();

// Runs the struprune-dist command line, `[COMMAND] CONFIG.yaml [--set key=value]... [options]` with
// COMMAND one of prune (the default), eval, generate, tokenize, bench, export (docs/cli.md):
// initialises MPI if needed, runs the command, and returns the process exit code: 0 ok, 1 failure,
// 2 input error (config, model, data, usage), 74 I/O failure such as a full disk, 75 output folder
// busy (another live run). With more than one MPI rank an error ends the whole job (dist/job_abort.h)
// so that no peer waits forever.
int run_command_line(int argc, char** argv);

}  // namespace struprune
