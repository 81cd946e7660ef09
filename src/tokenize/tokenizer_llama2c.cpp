#include "tokenize/tokenizer_llama2c.h"

#include <cstdio>
#include <nlohmann/json.hpp>

#include "core/error.h"

namespace sp::tok {

std::unique_ptr<Llama2cTokenizer> Llama2cTokenizer::from_json_text(std::string_view json_text, const std::string& where,
                                                                   int bos, int eos) {
  std::vector<std::string> pieces;
  std::vector<float> scores;
  try {
    const auto j = nlohmann::json::parse(json_text);
    SP_REQUIRE(j.is_array() && !j.empty(), "{}: expected a non-empty list of [piece, score]", where);
    for (const auto& e : j) {
      SP_REQUIRE(e.is_array() && e.size() == 2 && e[0].is_string() && e[1].is_number(),
                 "{}: entry {} is not [piece, score]", where, pieces.size());
      pieces.push_back(e[0].get<std::string>());
      scores.push_back(e[1].get<float>());
    }
  } catch (const nlohmann::json::exception& e) {
    throw_input("{}: not a llama2.c vocab.json: {}", where, e.what());
  }
  const auto n = static_cast<int>(pieces.size());
  SP_REQUIRE(bos >= 0 && bos < n && eos >= 0 && eos < n, "{}: BOS {} / EOS {} outside the {} pieces", where, bos, eos,
             n);
  std::unique_ptr<Llama2cTokenizer> t(new Llama2cTokenizer());
  BpeOptions opts;
  opts.byte_fallback = true;
  t->model_ = std::make_unique<BpeModel>(std::move(pieces), opts, where);
  t->model_->add_merges_by_score(scores);
  t->bos_ = bos;
  t->eos_ = eos;
  return t;
}

std::vector<int32_t> Llama2cTokenizer::encode(std::string_view text) const {
  std::vector<int32_t> out;
  if (text.empty()) return out;
  // The dummy prefix is a separate token in run.c, but merging treats it like a leading " ".
  std::string word;
  word.reserve(text.size() + 1);
  word += ' ';
  word += text;
  BpeModel::WordCache cache;
  model_->encode_word_cached(word, cache, out);
  return out;
}

std::string Llama2cTokenizer::decode(std::span<const int32_t> ids) const {
  std::string out;
  int32_t prev = -1;
  for (const int32_t id : ids) {
    SP_REQUIRE(id >= 0 && id < model_->size(), "llama2.c decode: id {} outside the vocabulary of {}", id,
               model_->size());
    const std::string& piece = model_->piece(id);
    unsigned byte = 0;
    char close = 0;
    if (id == bos_ || id == eos_) {
      // run.c never prints BOS / EOS: generation stops at them and prompts start after them.
    } else if (piece.size() == 6 && std::sscanf(piece.c_str(), "<0x%02X%c", &byte, &close) == 2 && close == '>') {
      out += static_cast<char>(byte);
    } else if (prev == bos_ && !piece.empty() && piece[0] == ' ') {
      out.append(piece, 1);
    } else {
      out += piece;
    }
    prev = id;
  }
  return out;
}

}  // namespace sp::tok
