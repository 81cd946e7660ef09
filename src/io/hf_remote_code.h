#pragma once
// Remote code for Hugging Face transformers beside a compact checkpoint whose layers differ in shape:
// a short modeling file (src/io/hf_remote/modeling_struprune.py, embedded at build time) that builds
// each decoder layer as transformers' own layer with that layer's counts, and the `auto_map` entry
// of config.json that points AutoConfig / AutoModelForCausalLM at it. Uniform checkpoints stay
// stock (no remote code). Loaded with from_pretrained(dir, trust_remote_code=True).
#include <string>

#include <nlohmann/json.hpp>

namespace sp::io {

struct ModelConfig;

inline constexpr const char* kHfModelingFile = "modeling_struprune.py";

// The auto_map object for c's family ("llama", "mistral", "qwen2", "qwen3", "opt", "gemma2", "gemma3_text").
nlohmann::json hf_auto_map(const ModelConfig& c);
// The modeling file's text.
const std::string& hf_modeling_source();
// Writes <dir>/modeling_struprune.py (atomically) when c's layers differ in shape; otherwise nothing.
void write_hf_remote_code(const ModelConfig& c, const std::string& dir);

}  // namespace sp::io
