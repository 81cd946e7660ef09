#include "io/hf_remote_code.h"

#include <filesystem>

#include "core/error.h"
#include "io/atomic_file.h"
#include "io/hf_remote_modeling.inc"  // kModelingSource: the .py file as a raw string (CMake)
#include "io/model_config.h"

namespace sp::io {

namespace {
// The class-name stem of each family the modeling file covers.
std::string stem(const ModelConfig& c) {
  if (c.model_type == "llama") return "Llama";
  if (c.model_type == "mistral") return "Mistral";
  if (c.model_type == "qwen2") return "Qwen2";
  if (c.model_type == "qwen3") return "Qwen3";
  if (c.model_type == "opt") return "OPT";
  if (c.model_type == "gemma2") return "Gemma2";
  if (c.model_type == "gemma3_text") return "Gemma3";
  throw_input("config.json: model_type '{}' has no per-layer-shape class in {}", c.model_type, kHfModelingFile);
}
}  // namespace

nlohmann::json hf_auto_map(const ModelConfig& c) {
  const std::string module = std::string(kHfModelingFile).substr(0, std::string(kHfModelingFile).size() - 3);
  return {{"AutoConfig", module + ".StruPrune" + stem(c) + "Config"},
          {"AutoModelForCausalLM", module + ".StruPrune" + stem(c) + "ForCausalLM"}};
}

const std::string& hf_modeling_source() {
  static const std::string s(kModelingSource);
  return s;
}

void write_hf_remote_code(const ModelConfig& c, const std::string& dir) {
  if (!has_per_layer_shapes(c)) return;
  write_file_atomic((std::filesystem::path(dir) / kHfModelingFile).string(), hf_modeling_source());
}

}  // namespace sp::io
