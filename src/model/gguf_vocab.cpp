#include "model/gguf_vocab.h"

#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>

#include "core/error.h"
#include "io/read_file.h"

namespace sp::model {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// llama.cpp's llama_token_type (gguf-py TokenType).
enum TokenType : int32_t { kNormal = 1, kUnknown = 2, kControl = 3, kUserDefined = 4, kUnused = 5, kByte = 6 };

const std::string kMetaspace = "\xE2\x96\x81";  // "▁"

json parse_json(const std::string& path) {
  try {
    return json::parse(io::read_file(path));
  } catch (const json::exception& e) {
    throw_input("{}: not valid JSON: {}", path, e.what());
  }
}

bool is_byte_piece(const std::string& p) {
  return p.size() == 6 && p.rfind("<0x", 0) == 0 && p[5] == '>' && std::isxdigit(static_cast<unsigned char>(p[3])) &&
         std::isxdigit(static_cast<unsigned char>(p[4]));
}

std::string replace_all(std::string s, const std::string& from, const std::string& to) {
  for (size_t i = s.find(from); i != std::string::npos; i = s.find(from, i + to.size())) s.replace(i, from.size(), to);
  return s;
}

// What every format fills; written by one function.
struct Vocab {
  std::string model, pre;
  std::vector<std::string> tokens;
  std::vector<float> scores;  // llama only
  std::vector<int32_t> types;
  std::vector<std::string> merges;  // gpt2 only
  int unk = -1, bos = -1, eos = -1;
  bool add_bos = false;
};

int config_id(const io::ModelConfig& c, const char* key) {
  const auto it = c.raw.find(key);
  if (it == c.raw.end() || !it->is_number_integer()) return -1;  // null, absent, or a list (eos lists)
  return it->get<int>();
}

// The pre-tokenizer name llama.cpp gives each byte-level split pattern it implements.
std::string gpt2_pre_name(const json& pre, const std::string& where) {
  std::vector<const json*> steps;
  if (pre.is_object() && pre.value("type", "") == "Sequence") {
    for (const auto& s : pre.at("pretokenizers")) steps.push_back(&s);
  } else if (pre.is_object()) {
    steps.push_back(&pre);
  }
  std::optional<std::string> pattern;
  bool byte_level_regex = false;
  for (const json* s : steps) {
    const std::string type = s->value("type", "");
    if (type == "Split" && s->contains("pattern") && s->at("pattern").contains("Regex"))
      pattern = s->at("pattern").at("Regex").get<std::string>();
    else if (type == "ByteLevel")
      byte_level_regex = s->value("use_regex", true);
    else
      throw_input(
          "{}: pre_tokenizer step '{}' has no llama.cpp pre-tokenizer (known: ByteLevel with the GPT-2, "
          "LLaMA-3 or Qwen2 split pattern)",
          where, type);
  }
  static const std::map<std::string, std::string> known = {
      {R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)",
       "llama-bpe"},
      {R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)",
       "qwen2"},
      {R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)", "gpt-2"},
  };
  if (!pattern && byte_level_regex) return "gpt-2";
  if (pattern && !byte_level_regex) {
    const auto it = known.find(*pattern);
    if (it != known.end()) return it->second;
  }
  throw_input(
      "{}: pre_tokenizer split pattern '{}' is not one llama.cpp knows (known: GPT-2, LLaMA-3 'llama-bpe', "
      "Qwen2)",
      where, pattern.value_or(byte_level_regex ? "ByteLevel regex + Split" : "none"));
}

Vocab from_tokenizer_json(const std::string& path) {
  const json t = parse_json(path);
  SP_REQUIRE(t.contains("model") && t["model"].value("type", "") == "BPE", "{}: model.type must be BPE for GGUF export",
             path);
  const json& m = t["model"];
  Vocab v;
  int max_id = -1;
  for (const auto& [piece, id] : m.at("vocab").items()) max_id = std::max(max_id, id.get<int>());
  std::map<int, const json*> added;
  if (t.contains("added_tokens"))
    for (const auto& a : t["added_tokens"]) {
      added[a.at("id").get<int>()] = &a;
      max_id = std::max(max_id, a.at("id").get<int>());
    }
  v.tokens.assign(size_t(max_id + 1), "");
  v.types.assign(size_t(max_id + 1), kUnused);
  for (const auto& [piece, id] : m.at("vocab").items()) {
    v.tokens[size_t(id.get<int>())] = piece;
    v.types[size_t(id.get<int>())] = kNormal;
  }
  const bool byte_fallback = m.value("byte_fallback", false);
  const json& pre = t.contains("pre_tokenizer") ? t["pre_tokenizer"] : json();
  const bool byte_level = pre.is_object() && (pre.value("type", "") == "ByteLevel" ||
                                              pre.dump().find("\"ByteLevel\"") != std::string::npos);
  if (m.contains("unk_token") && m["unk_token"].is_string()) {
    const auto it = m["vocab"].find(m["unk_token"].get<std::string>());
    if (it != m["vocab"].end()) v.unk = it->get<int>();
  }
  // Merges: ["a b", ...] (tokenizers < 0.20) or [["a", "b"], ...].
  std::vector<std::pair<std::string, std::string>> merges;
  for (const auto& e : m.value("merges", json::array())) {
    if (e.is_string()) {
      const std::string s = e.get<std::string>();
      const size_t sp = s.find(' ', 1);
      SP_REQUIRE(sp != std::string::npos, "{}: merge '{}' has no space", path, s);
      merges.emplace_back(s.substr(0, sp), s.substr(sp + 1));
    } else {
      merges.emplace_back(e.at(0).get<std::string>(), e.at(1).get<std::string>());
    }
  }
  if (byte_level) {
    v.model = "gpt2";
    v.pre = gpt2_pre_name(pre, path + " pre_tokenizer");
    for (const auto& [a, b] : merges) v.merges.push_back(a + " " + b);
  } else {
    // SentencePiece style: the text must reach the model as llama.cpp's SPM tokenizer makes it
    // (a "▁" prefix, spaces as "▁"), through the normalizer or a Metaspace pre-tokenizer.
    const std::string norm = t.contains("normalizer") ? t["normalizer"].dump() : "";
    const bool metaspace =
        norm.find(kMetaspace) != std::string::npos || pre.dump().find("Metaspace") != std::string::npos;
    SP_REQUIRE(metaspace && byte_fallback,
               "{}: a BPE tokenizer that is neither byte-level nor SentencePiece-style (metaspace '▁' with "
               "byte_fallback) has no llama.cpp tokenizer model",
               path);
    v.model = "llama";
    v.scores.assign(v.tokens.size(), -1e9f);
    std::map<std::string, int> id_of;
    for (const auto& [piece, id] : m.at("vocab").items()) id_of[piece] = id.get<int>();
    for (size_t r = 0; r < merges.size(); ++r) {
      const auto it = id_of.find(merges[r].first + merges[r].second);
      SP_REQUIRE(it != id_of.end(), "{}: merge {} ('{}' '{}') makes no piece of the vocabulary", path, r,
                 merges[r].first, merges[r].second);
      float& s = v.scores[size_t(it->second)];
      if (s == -1e9f) s = -float(r);  // the first merge that makes a piece ranks it
    }
    for (size_t i = 0; i < v.tokens.size(); ++i)
      if (byte_fallback && is_byte_piece(v.tokens[i])) v.types[i] = kByte;
  }
  for (const auto& [id, a] : added) {
    v.tokens[size_t(id)] = a->at("content").get<std::string>();
    v.types[size_t(id)] = a->value("special", false) ? kControl : kUserDefined;
  }
  if (v.unk >= 0) v.types[size_t(v.unk)] = kUnknown;
  // The post-processor adds BOS when its "single" template starts with a special token.
  if (t.contains("post_processor") && t["post_processor"].is_object()) {
    const json& pp = t["post_processor"];
    if (pp.value("type", "") == "TemplateProcessing" && pp.contains("single") && !pp["single"].empty() &&
        pp["single"][0].contains("SpecialToken")) {
      const std::string first = pp["single"][0]["SpecialToken"].at("id").get<std::string>();
      for (size_t i = 0; i < v.tokens.size(); ++i)
        if (v.tokens[i] == first) {
          v.bos = int(i);
          v.add_bos = true;
        }
    }
  }
  for (size_t i = 0; i < v.tokens.size(); ++i)
    if (v.tokens[i].empty()) {
      v.tokens[i] = "[PAD" + std::to_string(i) + "]";
      v.types[i] = kUnused;
    }
  return v;
}

Vocab from_vocab_merges(const std::string& vocab_path, const std::string& merges_path) {
  const json j = parse_json(vocab_path);
  Vocab v;
  v.model = "gpt2";
  v.pre = "gpt-2";  // GPT2TokenizerFast: ByteLevel with the GPT-2 pattern
  int max_id = -1;
  for (const auto& [piece, id] : j.items()) max_id = std::max(max_id, id.get<int>());
  v.tokens.assign(size_t(max_id + 1), "");
  v.types.assign(size_t(max_id + 1), kNormal);
  for (const auto& [piece, id] : j.items()) v.tokens[size_t(id.get<int>())] = piece;
  std::istringstream in(io::read_file(merges_path));
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || line.rfind("#version", 0) == 0) continue;
    v.merges.push_back(line);
  }
  for (size_t i = 0; i < v.tokens.size(); ++i) {
    if (v.tokens[i] == "<|endoftext|>") {
      v.types[i] = kControl;
      v.bos = v.eos = int(i);
    }
    if (v.tokens[i].empty()) {
      v.tokens[i] = "[PAD" + std::to_string(i) + "]";
      v.types[i] = kUnused;
    }
  }
  return v;
}

Vocab from_llama2c(const std::string& path) {
  const json j = parse_json(path);
  SP_REQUIRE(j.is_array(), "{}: a llama2.c vocab.json is a list of [piece, score]", path);
  Vocab v;
  v.model = "llama";
  v.unk = 0;
  v.bos = 1;
  v.eos = 2;
  v.add_bos = true;
  for (size_t i = 0; i < j.size(); ++i) {
    SP_REQUIRE(j[i].is_array() && j[i].size() == 2 && j[i][0].is_string() && j[i][1].is_number(),
               "{}: entry {} is not [piece, score]", path, i);
    std::string piece = j[i][0].get<std::string>();
    int32_t type = kNormal;
    if (i == 0) {
      type = kUnknown;
    } else if (i == 1 || i == 2) {
      type = kControl;
      piece = i == 1 ? "<s>" : "</s>";  // llama2.c wrote them "\n<s>\n", "\n</s>\n"
    } else if (is_byte_piece(piece)) {
      type = kByte;
    } else {
      piece = replace_all(piece, " ", kMetaspace);  // llama2.c's export spelled "▁" as " "
    }
    v.tokens.push_back(piece);
    v.scores.push_back(j[i][1].get<float>());
    v.types.push_back(type);
  }
  return v;
}

}  // namespace

GgufVocabSummary add_gguf_vocab(io::GgufWriter& w, const std::string& model_dir, const io::ModelConfig& c) {
  const fs::path d(model_dir);
  Vocab v;
  if (fs::exists(d / "tokenizer.json")) {
    v = from_tokenizer_json((d / "tokenizer.json").string());
  } else {
    const fs::path vocab = d / "vocab.json";
    SP_REQUIRE(fs::exists(vocab), "{}: no tokenizer.json, vocab.json + merges.txt or llama2.c vocab.json to export",
               model_dir);
    const json j = parse_json(vocab.string());
    v = (fs::exists(d / "merges.txt") && j.is_object()) ? from_vocab_merges(vocab.string(), (d / "merges.txt").string())
                                                        : from_llama2c(vocab.string());
  }
  const int n = int(v.tokens.size());
  SP_REQUIRE(n <= c.vocab, "{}: the tokenizer has {} tokens but config.json vocab_size is {} (embedding rows)",
             model_dir, n, c.vocab);
  for (int i = n; i < c.vocab; ++i) {  // embedding rows past the tokenizer: padding, as HF models have
    v.tokens.push_back("[PAD" + std::to_string(i) + "]");
    v.types.push_back(kUnused);
    if (!v.scores.empty()) v.scores.push_back(-1e9f);
  }
  // config.json names BOS / EOS the way our tokenizer does (Tokenizer::from_model_dir).
  if (const int b = config_id(c, "bos_token_id"); b >= 0) v.bos = b;
  if (const int e = config_id(c, "eos_token_id"); e >= 0) v.eos = e;
  for (const auto& [key, id] : {std::pair{"bos_token_id", v.bos}, {"eos_token_id", v.eos}, {"unknown_token_id", v.unk}})
    SP_REQUIRE(id < c.vocab, "{}: {} {} is past the vocabulary ({})", model_dir, key, id, c.vocab);

  w.add_string("tokenizer.ggml.model", v.model);
  if (!v.pre.empty()) w.add_string("tokenizer.ggml.pre", v.pre);
  w.add_string_array("tokenizer.ggml.tokens", v.tokens);
  if (!v.scores.empty()) w.add_f32_array("tokenizer.ggml.scores", v.scores);
  w.add_i32_array("tokenizer.ggml.token_type", v.types);
  if (!v.merges.empty()) w.add_string_array("tokenizer.ggml.merges", v.merges);
  if (v.bos >= 0) w.add_u32("tokenizer.ggml.bos_token_id", uint32_t(v.bos));
  if (v.eos >= 0) w.add_u32("tokenizer.ggml.eos_token_id", uint32_t(v.eos));
  if (v.unk >= 0) w.add_u32("tokenizer.ggml.unknown_token_id", uint32_t(v.unk));
  if (const int pad = config_id(c, "pad_token_id"); pad >= 0 && pad < c.vocab)
    w.add_u32("tokenizer.ggml.padding_token_id", uint32_t(pad));
  w.add_bool("tokenizer.ggml.add_bos_token", v.add_bos);
  w.add_bool("tokenizer.ggml.add_eos_token", false);
  if (v.model == "llama") w.add_bool("tokenizer.ggml.add_space_prefix", true);
  return {v.model, v.pre, int(v.tokens.size())};
}

}  // namespace sp::model
