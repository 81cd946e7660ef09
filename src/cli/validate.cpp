#include "cli/validate.h"

#include <filesystem>

#include "cli/data_inputs.h"
#include "core/error.h"
#include "core/log.h"
#include "io/checkpoint.h"
#include "persist/journal.h"

namespace sp::cli {
namespace fs = std::filesystem;
namespace {

void require_file(const std::string& path, const char* key) {
  SP_REQUIRE(!path.empty(), "{} is required (set it in the config or with --set {}=PATH)", key, key);
  std::error_code ec;
  SP_REQUIRE(fs::is_regular_file(path, ec), "{}: file not found ({})", path, key);
}

void check_dtype(const io::Checkpoint& ck, std::optional<DType> want) {
  if (!want) return;
  const DType d = *want;
  for (const auto& name : ck.names()) {
    const auto& e = ck.info(name);
    const bool floating = e.dtype == DType::F32 || e.dtype == DType::F16 || e.dtype == DType::BF16;
    SP_REQUIRE(!floating || e.dtype == d, "{}: tensor '{}' is {}, but model.dtype = {}", ck.file_of(name), name,
               dtype_name(e.dtype), enum_name<DType>(kWeightDTypeNames, d));
  }
}

}  // namespace

bool has_tokenizer(const std::string& where) {
  std::error_code ec;
  if (fs::is_regular_file(where, ec)) return true;  // a tokenizer.json named directly
  for (const char* f : {"tokenizer.json", "vocab.json"})
    if (fs::is_regular_file(fs::path(where) / f, ec)) return true;
  return false;
}

ValidatedModel validate_inputs(const Config& cfg, Command command, bool resume) {
  ValidatedModel in;
  const std::string& dir = cfg.model.path;
  SP_REQUIRE(!dir.empty(), "{}: model.path is required", cfg.source.empty() ? "config" : cfg.source);
  std::error_code ec;
  SP_REQUIRE(fs::is_directory(dir, ec), "{}: model folder not found (model.path)", dir);
  in.model = io::load_model_config((fs::path(dir) / "config.json").string());
  if (!cfg.model.synthetic) {
    auto ck = io::Checkpoint::open(dir);
    in.checkpoint_tensors = int64_t(ck->names().size());
    check_dtype(*ck, cfg.model.dtype);
  }

  // Pre-tokenized ids need no tokenizer; generate always does.
  const bool needs_text = command == Command::Generate ||
                          data_needs_tokenizer(cfg, command == Command::Prune || command == Command::Tokenize,
                                               command != Command::Generate);
  const std::string& tok = cfg.model.tokenizer.empty() ? dir : cfg.model.tokenizer;
  SP_REQUIRE(!needs_text || has_tokenizer(tok), "{}: no tokenizer.json (or llama2.c vocab.json) there ({})", tok,
             cfg.model.tokenizer.empty() ? "model.path; set model.tokenizer to use another" : "model.tokenizer");

  if (command == Command::Prune) require_file(cfg.calibration.path, "calibration.path");
  if (command == Command::Prune || command == Command::Eval || command == Command::Tokenize)
    for (const auto& d : cfg.eval.datasets) require_file(d.path, ("eval.datasets." + d.name).c_str());
  if (command == Command::Tokenize) {
    if (!cfg.calibration.path.empty()) require_file(cfg.calibration.path, "calibration.path");
    SP_REQUIRE(!cfg.eval.datasets.empty() || !cfg.calibration.path.empty(),
               "{}: neither eval.datasets nor calibration.path is set: nothing to tokenize",
               cfg.source.empty() ? "config" : cfg.source);
    for (const auto& d : cfg.eval.datasets)
      SP_REQUIRE(d.name != "calibration", "{}: eval.datasets.calibration would overwrite calibration.npy; rename it",
                 cfg.source.empty() ? "config" : cfg.source);
  }
  if (command == Command::Eval)
    SP_REQUIRE(!cfg.eval.datasets.empty(), "{}: eval.datasets is empty: nothing to evaluate",
               cfg.source.empty() ? "config" : cfg.source);

  // Refuse to clobber a finished pruning run (its masks) unless asked; --resume continues it. The
  // report is not checked: `eval` writes one into the same folder before a run.
  // An interrupted run (its journal) is not thrown away without output.overwrite either.
  SP_REQUIRE(!resume || cfg.output.journal,
             "{}: --resume needs output.journal: true (this configuration keeps no journal to resume from)",
             cfg.source.empty() ? "config" : cfg.source);
  if (command == Command::Prune && !cfg.output.overwrite) {
    const fs::path p = fs::path(cfg.output.dir) / cfg.output.masks;
    const bool finished = fs::exists(p, ec), interrupted = persist::journal_exists(cfg.output.dir);
    SP_REQUIRE(resume || !finished,
               "{}: already exists; set output.overwrite=true, pass --resume, or choose another "
               "output.dir",
               p.string());
    SP_REQUIRE(resume || !interrupted,
               "{}: an interrupted run of this output.dir: pass --resume to continue it, or set output.overwrite=true "
               "to start over",
               (fs::path(cfg.output.dir) / ".journal").string());
    SP_REQUIRE(
        !resume || interrupted || !finished,
        "--resume: {} holds a finished run ({}) and nothing to resume; set output.overwrite=true to run it again",
        cfg.output.dir, p.string());
  }
  return in;
}

}  // namespace sp::cli
