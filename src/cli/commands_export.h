#pragma once
// `export`: model.path as one GGUF file for llama.cpp (model/gguf_export.h); and the same at the
// end of a prune when output.gguf is not none.
#include <string>

#include "cli/args.h"
#include "cli/config_schema.h"
#include "core/communicator.h"
#include "io/model_config.h"

namespace sp::cli {

int run_export(const Args& args, const Config& cfg, Communicator& comm);
// Before a prune with output.gguf set: what the dense model already shows llama.cpp cannot take
// (OPT, an unsupported RoPE type) fails before any work, by name.
void check_gguf_output(const Config& cfg, const io::ModelConfig& model);
// After a prune: output.dir/model.gguf from the pruned checkpoint in output.dir/output.model_dir.
// Returns the path written ("" when output.gguf is none).
std::string write_gguf_output(const Config& cfg);

}  // namespace sp::cli
