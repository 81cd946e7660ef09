#include "cli/commands_export.h"

#include <filesystem>

#include "cli/commands.h"
#include "core/error.h"
#include "core/log.h"
#include "model/gguf_export.h"

namespace sp::cli {
namespace fs = std::filesystem;

namespace {

void export_to(const std::string& model_dir, const std::string& path, const std::string& type_name, bool overwrite) {
  SP_REQUIRE(overwrite || !fs::exists(path),
             "{} already exists: set output.overwrite: true to replace it, or choose another --out", path);
  if (const fs::path parent = fs::path(path).parent_path(); !parent.empty()) fs::create_directories(parent);
  const auto s = model::export_gguf(model_dir, path, model::gguf_type_from_name(type_name));
  SP_LOG_INFO("GGUF: {} ({} architecture, {} tensors, {} keys, {} matrices, tokenizer '{}') from {}", path,
              s.architecture, s.tensors, s.keys, type_name, s.tokenizer, model_dir);
  SP_LOG_INFO("run it with llama.cpp: llama-cli -m {} -p \"Once upon a time\"", path);
}

}  // namespace

int run_export(const Args& args, const Config& cfg, Communicator& comm) {
  SP_REQUIRE(!cfg.model.synthetic, "{}: model.synthetic = true has no weights to export", cfg.source);
  const std::string path = args.out.empty() ? (fs::path(cfg.output.dir) / "model.gguf").string() : args.out;
  const std::string type = cfg.output.gguf == "none" ? "f32" : cfg.output.gguf;
  if (args.dry_run) {
    SP_LOG_INFO("dry run: would write {} ({}) from {}", path, type, cfg.model.path);
    return kExitOk;
  }
  if (comm.is_root()) export_to(cfg.model.path, path, type, cfg.output.overwrite);
  comm.barrier();
  return kExitOk;
}

void check_gguf_output(const Config& cfg, const io::ModelConfig& model) {
  if (cfg.output.gguf == "none") return;
  SP_REQUIRE(!cfg.model.synthetic, "{}: output.gguf: {} needs a tokenizer; model.synthetic has none", cfg.source,
             cfg.output.gguf);
  SP_REQUIRE(cfg.output.checkpoint != CheckpointForm::None,
             "{}: output.gguf: {} needs a pruned checkpoint to convert (output.checkpoint is none)", cfg.source,
             cfg.output.gguf);
  SP_REQUIRE(model.family == io::ArchFamily::Llama,
             "{}: output.gguf: model_type '{}' cannot be exported to GGUF (only the LLaMA family is); set "
             "output.gguf: none",
             cfg.source, model.model_type);
  SP_REQUIRE(!model.fused_projections,
             "{}: output.gguf: model_type '{}' is not exported to GGUF (llama.cpp's phi3 architecture is not written "
             "here); set output.gguf: none",
             cfg.source, model.model_type);
  using T = io::RopeScaling::Type;
  SP_REQUIRE(model.rope.type == T::kDefault || model.rope.type == T::kLinear || model.rope.type == T::kLlama3,
             "{}: output.gguf: rope_type '{}' is not exported to GGUF (exported: default, linear, llama3)", cfg.source,
             model.rope.name);
}

std::string write_gguf_output(const Config& cfg) {
  if (cfg.output.gguf == "none") return "";
  const std::string path = (fs::path(cfg.output.dir) / "model.gguf").string();
  export_to((fs::path(cfg.output.dir) / cfg.output.model_dir).string(), path, cfg.output.gguf, true);
  return path;
}

}  // namespace sp::cli
