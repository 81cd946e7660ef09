#include "tokenize/tokenizer.h"

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/error.h"
#include "io/read_file.h"
#include "tokenize/tokenizer_hf.h"
#include "tokenize/tokenizer_llama2c.h"

namespace sp::tok {

namespace {

namespace fs = std::filesystem;

// config.json's bos/eos_token_id (an id, a list whose first entry counts, or null); -1 if absent.
int config_id(const nlohmann::json& cfg, const char* key) {
  if (!cfg.contains(key)) return -1;
  const auto& v = cfg[key];
  if (v.is_number_integer()) return v.get<int>();
  if (v.is_array() && !v.empty() && v[0].is_number_integer()) return v[0].get<int>();
  return -1;
}

// Is this vocab.json a llama2.c list rather than a GPT-2 object? Only the first byte matters.
bool is_json_list(const std::string& text) {
  for (const char c : text)
    if (!std::isspace(static_cast<unsigned char>(c))) return c == '[';
  return false;
}

}  // namespace

std::unique_ptr<Tokenizer> Tokenizer::from_tokenizer_json(const std::string& path) {
  return HfTokenizer::from_json_text(io::read_file(path), path);
}

std::unique_ptr<Tokenizer> Tokenizer::from_vocab_merges(const std::string& vocab_json, const std::string& merges_txt) {
  return HfTokenizer::from_vocab_merges_text(io::read_file(vocab_json), io::read_file(merges_txt), vocab_json);
}

std::unique_ptr<Tokenizer> Tokenizer::from_model_dir(const std::string& dir) {
  const fs::path d(dir);
  // The model's config.json decides BOS / EOS when it names them (the reference protocols take
  // bos_token_id from there); the tokenizer files are the fallback.
  int bos = -1, eos = -1;
  if (fs::exists(d / "config.json")) {
    try {
      const auto cfg = nlohmann::json::parse(io::read_file((d / "config.json").string()));
      bos = config_id(cfg, "bos_token_id");
      eos = config_id(cfg, "eos_token_id");
    } catch (const nlohmann::json::exception& e) {
      throw_input("{}: not valid JSON: {}", (d / "config.json").string(), e.what());
    }
  }
  if (fs::exists(d / "tokenizer.json")) {
    auto t =
        HfTokenizer::from_json_text(io::read_file((d / "tokenizer.json").string()), (d / "tokenizer.json").string());
    t->set_bos_eos(bos >= 0 ? bos : t->bos_id(), eos >= 0 ? eos : t->eos_id());
    return t;
  }
  const fs::path vocab = d / "vocab.json";
  SP_REQUIRE(fs::exists(vocab), "{}: no tokenizer.json, vocab.json + merges.txt or llama2.c vocab.json", dir);
  const std::string vocab_text = io::read_file(vocab.string());
  if (fs::exists(d / "merges.txt") && !is_json_list(vocab_text)) {
    auto t =
        HfTokenizer::from_vocab_merges_text(vocab_text, io::read_file((d / "merges.txt").string()), vocab.string());
    t->set_bos_eos(bos >= 0 ? bos : t->bos_id(), eos >= 0 ? eos : t->eos_id());
    return t;
  }
  return Llama2cTokenizer::from_json_text(vocab_text, vocab.string(), bos >= 0 ? bos : 1, eos >= 0 ? eos : 2);
}

}  // namespace sp::tok
