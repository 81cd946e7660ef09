#pragma once
// Input validation before any compute: the model folder (config.json, safetensors headers,
// tokenizer), the data files and the output folder. Everything a run would trip over later is
// reported now, as an InputError naming the file and the key.
#include "cli/args.h"
#include "cli/config_schema.h"
#include "io/model_config.h"

namespace sp::cli {

struct ValidatedModel {
  io::ModelConfig model;
  int64_t checkpoint_tensors = 0;  // tensors found in the safetensors headers (0 when synthetic)
};

ValidatedModel validate_inputs(const Config& cfg, Command command, bool resume);

// A tokenizer.json (named directly) or a folder holding tokenizer.json / llama2.c vocab.json.
bool has_tokenizer(const std::string& where);

}  // namespace sp::cli
