#pragma once
// Hugging Face tokenizer.json (BPE model) and GPT-2 style vocab.json + merges.txt.
// encode = added-token split -> normalizer -> pre-tokenizer -> BPE per word (no post-processor:
// callers add BOS themselves; encode_with_specials applies it); decode = ids -> spellings (special added tokens skipped, as
// tokenizers' decode(skip_special_tokens=True)) -> decoder chain.
#include <array>
#include <atomic>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "tokenize/bpe.h"
#include "tokenize/tokenizer.h"
#include "tokenize/tokenizer_added.h"
#include "tokenize/tokenizer_steps.h"

namespace sp::tok {

class HfTokenizer final : public Tokenizer {
 public:
  // json_text: the content of a tokenizer.json; `where` names it in error messages.
  static std::unique_ptr<HfTokenizer> from_json_text(std::string_view json_text, const std::string& where);
  // GPT-2 files as Hugging Face's GPT2TokenizerFast reads them: ByteLevel pre-tokenizer and
  // decoder, <|endoftext|> (if present) special and used as BOS and EOS.
  static std::unique_ptr<HfTokenizer> from_vocab_merges_text(std::string_view vocab_json, std::string_view merges_txt,
                                                             const std::string& where);

  std::vector<int32_t> encode(std::string_view text) const override;
  // encode() plus the post-processor's special tokens (tokenizers' add_special_tokens=True).
  std::vector<int32_t> encode_with_specials(std::string_view text) const;
  std::string decode(std::span<const int32_t> ids) const override;
  int vocab_size() const override;
  int bos_id() const override { return bos_; }
  int eos_id() const override { return eos_; }
  void set_bos_eos(int bos, int eos) {
    bos_ = bos;
    eos_ = eos;
  }

 private:
  HfTokenizer() = default;
  // Once per tokenizer: how many bytes of a text had no byte-level piece, and what they became.
  void warn_missing_bytes(int64_t n, const std::array<int64_t, 256>& counts) const;

  std::unique_ptr<BpeModel> model_;
  AddedTokens added_;
  std::vector<NormalizerStep> normalizer_;
  std::vector<PreTokenizerStep> pre_tokenizer_;
  std::vector<DecoderStep> decoder_;
  bool has_decoder_ = false;
  std::vector<int32_t> template_before_, template_after_;  // TemplateProcessing "single" around $A
  int bos_ = -1, eos_ = -1;
  std::string where_;  // the file, for messages
  mutable std::atomic<bool> warned_missing_bytes_{false};
};

}  // namespace sp::tok
