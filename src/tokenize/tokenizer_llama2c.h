#pragma once
// llama2.c's tokenizer (run.c encode/decode) over its vocab.json: a JSON list of [piece, score]
// in id order, pieces spelled with plain spaces (llama2.c's export replaced "▁" by " ").
//  encode: a dummy-prefix " " (when the text is not empty), each UTF-8 char as its piece or its
//    <0xHH> byte tokens, then repeatedly merge the adjacent pair whose concatenation is a piece
//    with the highest score (leftmost on ties). No BOS / EOS: callers add them.
//  decode: BOS / EOS pieces print nothing; a piece right after BOS loses its leading space;
//    <0xHH> is the raw byte HH. (run.c's safe_printf filter of unprintable bytes is a display
//    concern and is not applied.)
#include <memory>
#include <string>
#include <string_view>

#include "tokenize/bpe.h"
#include "tokenize/tokenizer.h"

namespace sp::tok {

class Llama2cTokenizer final : public Tokenizer {
 public:
  // json_text: content of the vocab.json; bos/eos ids as llama2.c fixes them (1 and 2).
  static std::unique_ptr<Llama2cTokenizer> from_json_text(std::string_view json_text, const std::string& where,
                                                          int bos = 1, int eos = 2);

  std::vector<int32_t> encode(std::string_view text) const override;
  std::string decode(std::span<const int32_t> ids) const override;
  int vocab_size() const override { return model_->size(); }
  int bos_id() const override { return bos_; }
  int eos_id() const override { return eos_; }

 private:
  Llama2cTokenizer() = default;
  std::unique_ptr<BpeModel> model_;
  int bos_ = 1, eos_ = 2;
};

}  // namespace sp::tok
