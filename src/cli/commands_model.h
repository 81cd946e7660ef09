#pragma once
// The subcommands that run the model: prune, eval (perplexity table + report.json), generate and bench.
#include "cli/args.h"
#include "cli/plan.h"
#include "cli/config_schema.h"
#include "core/communicator.h"

namespace sp::cli {

// local_rank: this process's rank on its node (picks the GPU).
int run_eval(const Args& args, const Config& cfg, Communicator& comm, int local_rank);
int run_generate(const Args& args, const Config& cfg, Communicator& comm, int local_rank);
// commands_tokenize.cpp: every eval dataset and the calibration data as .npy ids in output.dir.
int run_tokenize(const Config& cfg, Communicator& comm);
// commands_bench.cpp
int run_bench(const Args& args, const Config& cfg, Communicator& comm, int local_rank);
// commands_prune.cpp
// plan: the dry-run plan of this run (its memory estimate goes into report.json next to the peak).
int run_prune(const Args& args, const Config& cfg, const Plan& plan, Communicator& comm, int local_rank);

}  // namespace sp::cli
