#include "cli/data_inputs.h"

#include <algorithm>
#include <atomic>
#include <filesystem>

#include "cli/session.h"
#include "cli/validate.h"
#include "core/error.h"
#include "core/log.h"

namespace sp::cli {
namespace fs = std::filesystem;

std::unique_ptr<tok::Tokenizer> load_tokenizer(const Config& cfg) {
  const std::string& t = cfg.model.tokenizer;
  const std::string& where = t.empty() ? cfg.model.path : t;
  if (!has_tokenizer(where)) return nullptr;
  try {
    return fs::is_regular_file(where) ? tok::Tokenizer::from_tokenizer_json(where)
                                      : tok::Tokenizer::from_model_dir(where);
  } catch (const InputError& e) {
    // Pre-tokenized ids need no tokenizer, so one that cannot be read does not stop such a run.
    if (data_needs_tokenizer(cfg, true, true)) throw;
    static std::atomic<bool> warned{false};  // prune reads the data twice (estimate, then run): one warning
    if (!warned.exchange(true))
      SP_LOG_WARN("{} (not needed: every configured data file is pre-tokenized ids)", e.what());
    return nullptr;
  }
}

int32_t bos_id(const io::ModelConfig& model, const tok::Tokenizer* tokenizer) {
  if (model.bos_token_id >= 0) return model.bos_token_id;
  return tokenizer ? tokenizer->bos_id() : -1;
}

data::DataSpec eval_spec(const EvalDataset& d, const io::ModelConfig& model) {
  data::DataSpec s{d.path, d.format, d.text_field};
  s.vocab_size = model.vocab;
  return s;
}

int64_t eval_window_count(const Config& cfg, size_t n_ids, int64_t seqlen) {
  const int64_t n = int64_t(n_ids) / seqlen;
  return cfg.eval.max_windows > 0 ? std::min<int64_t>(n, cfg.eval.max_windows) : n;
}

data::DataSpec calibration_spec(const Config& cfg, const io::ModelConfig& model) {
  data::DataSpec s{cfg.calibration.path, cfg.calibration.format, cfg.calibration.text_field};
  s.vocab_size = model.vocab;
  return s;
}

bool data_needs_tokenizer(const Config& cfg, bool calibration, bool eval) {
  auto text = [](const std::string& path, DataFormat f) {
    return !path.empty() && data::resolve_format({path, f}) != data::Format::Ids;
  };
  bool needs = calibration && text(cfg.calibration.path, cfg.calibration.format);
  if (eval)
    for (const auto& d : cfg.eval.datasets) needs = needs || text(d.path, d.format);
  return needs;
}

}  // namespace sp::cli
