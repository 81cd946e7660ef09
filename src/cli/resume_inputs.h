#pragma once
// What a pruning run's result depends on, as the resume journal records it (persist/journal.h): the
// effective config's keys (less those that only say where or how verbosely to write), the
// checkpoint's identity, digests of the calibration and evaluation token ids, the tool's version
// and commit, the resolved device (GPU model, CPU thread count) and the effective calibration batch.
#include <string>

#include "cli/config_schema.h"
#include "persist/journal.h"

namespace sp::cli {

persist::Journal::Dependencies resume_inputs(const Config& cfg, const std::string& model_identity,
                                             const prune::RunSetup& in, Device device);

}  // namespace sp::cli
