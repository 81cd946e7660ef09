#pragma once
// Hugging Face-exact tokenizers. Formats read:
//  * tokenizer.json with a BPE model: (a) ByteLevel pre-tokenizer + GPT-2 split regex
//    (GPT-2 / OPT / LLaMA-3 / Qwen), (b) SentencePiece-style BPE with byte fallback and the
//    metaspace "▁" (LLaMA-2 / Mistral); added / special tokens.
//  * vocab.json + merges.txt (GPT-2 style byte-level BPE).
//  * llama2.c vocab.json (a list of [piece, score] in id order; merges by score).
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace sp::tok {

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;
  // Picks the format from what the folder holds (tokenizer.json first).
  static std::unique_ptr<Tokenizer> from_model_dir(const std::string& dir);
  static std::unique_ptr<Tokenizer> from_tokenizer_json(const std::string& path);
  static std::unique_ptr<Tokenizer> from_vocab_merges(const std::string& vocab_json, const std::string& merges_txt);

  // Ids of `text` without special tokens (no BOS): the caller adds BOS where a protocol asks.
  virtual std::vector<int32_t> encode(std::string_view text) const = 0;
  virtual std::string decode(std::span<const int32_t> ids) const = 0;
  virtual int vocab_size() const = 0;
  virtual int bos_id() const = 0;  // -1 if none
  virtual int eos_id() const = 0;  // -1 if none
};

}  // namespace sp::tok
