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
  // Picks the format from what the folder holds: tokenizer.json, else vocab.json + merges.txt,
  // else a llama2.c vocab.json. BOS / EOS: config.json's bos/eos_token_id when present (the
  // reference protocols take BOS from there), else what the tokenizer files say.
  static std::unique_ptr<Tokenizer> from_model_dir(const std::string& dir);
  static std::unique_ptr<Tokenizer> from_tokenizer_json(const std::string& path);
  static std::unique_ptr<Tokenizer> from_vocab_merges(const std::string& vocab_json, const std::string& merges_txt);

  // Ids of `text` as tokenizers' encode(text, add_special_tokens=False): no BOS is added (the caller
  // adds it where a protocol asks), but added tokens spelled in the text ("<s>") still match.
  virtual std::vector<int32_t> encode(std::string_view text) const = 0;
  // Hugging Face formats: tokenizers' decode(ids, skip_special_tokens=True) (invalid UTF-8 becomes
  // U+FFFD as in Rust). llama2.c: run.c's rules (BOS/EOS print nothing, no space after BOS).
  // Thread-safe like encode: both are const and keep no state between calls.
  virtual std::string decode(std::span<const int32_t> ids) const = 0;
  virtual int vocab_size() const = 0;
  virtual int bos_id() const = 0;  // -1 if none
  virtual int eos_id() const = 0;  // -1 if none
};

}  // namespace sp::tok
