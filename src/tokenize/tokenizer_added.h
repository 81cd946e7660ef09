#pragma once
// Added tokens of a tokenizer.json (`added_tokens`): matched in the raw text before the model
// runs, leftmost-longest as tokenizers' AddedVocabulary does, so "<s>" or "<|endoftext|>" inside
// a text become their own ids and split the text around them.
#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace sp::tok {

struct AddedToken {
  std::string content;
  int32_t id = -1;
  bool special = false;
  bool lstrip = false;       // swallow whitespace before the match
  bool rstrip = false;       // swallow whitespace after it
  bool single_word = false;  // only match when not inside a word
  bool normalized = false;   // matched in the normalized text instead of the raw input
  // normalized tokens: the content as the normalizer writes it, which is what is matched there
  // (tokenizers normalizes the content too); empty: the content itself.
  std::string normalized_content;

  const std::string& spelling() const {
    return normalized && !normalized_content.empty() ? normalized_content : content;
  }
};

class AddedTokens {
 public:
  AddedTokens() = default;
  explicit AddedTokens(std::vector<AddedToken> tokens);

  struct Segment {
    std::string_view text;  // text to run through the model (when id < 0)
    int32_t id;             // the added token's id, or -1
    bool at_start;          // the segment starts at offset 0 of the input
  };
  // tokenizers splits twice: the raw input on tokens with normalized = false, then each
  // normalized text segment on tokens with normalized = true.
  std::vector<Segment> split(std::string_view text, bool normalized) const;

  bool empty() const { return tokens_.empty(); }
  bool any_normalized() const { return any_normalized_; }
  bool is_special(int32_t id) const;
  const AddedToken* by_id(int32_t id) const;
  const AddedToken* by_content(std::string_view content) const;
  const std::vector<AddedToken>& all() const { return tokens_; }

 private:
  std::vector<AddedToken> tokens_;
  std::unordered_map<int32_t, size_t> by_id_;
  std::array<std::vector<size_t>, 256> by_first_byte_;  // candidates, longest first
  bool any_normalized_ = false;
};

}  // namespace sp::tok
