#pragma once
// The Hugging Face tokenizer pipeline stages this project supports, as plain data read from
// tokenizer.json: normalizer steps, pre-tokenizer steps and decoder steps. Each function follows
// the corresponding Rust implementation in huggingface/tokenizers; unsupported kinds are
// rejected when the file is read (tokenizer_hf.cpp), never silently ignored.
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "tokenize/unicode_regex.h"

namespace sp::tok {

struct NormalizerStep {
  enum class Kind { kPrepend, kReplace, kNfc, kNfd, kNfkc, kNfkd, kLowercase, kStrip };
  Kind kind;
  std::string text;                           // Prepend: prefix; Replace: the literal pattern
  std::string content;                        // Replace: replacement
  std::shared_ptr<const UnicodeRegex> regex;  // Replace with a Regex pattern (else literal)
  bool strip_left = true, strip_right = true;  // Strip (Unicode White_Space)
};

// Drops leading and / or trailing Unicode white space (tokenizers' Strip normalizer).
std::string strip_white_space(std::string text, bool left, bool right);

// Applies the steps in order. Prepend does nothing on an empty string (as in HF).
std::string normalize(const std::vector<NormalizerStep>& steps, std::string text);

enum class SplitBehavior { kRemoved, kIsolated, kMergedWithPrevious, kMergedWithNext, kContiguous };
enum class PrependScheme { kAlways, kFirst, kNever };

// Digits, Punctuation, Whitespace and WhitespaceSplit are Split steps with a fixed pattern and
// behaviour (the char classes of their Rust implementations); see the make_* functions.
struct PreTokenizerStep {
  enum class Kind { kByteLevel, kSplit, kMetaspace };
  Kind kind = Kind::kSplit;
  // ByteLevel: the words stay raw bytes (the BPE model maps bytes itself).
  bool add_prefix_space = false;
  bool use_regex = true;  // ByteLevel: split with the GPT-2 pattern first
  // Split: a regex (or a literal when regex is null), behaviour and invert.
  std::shared_ptr<const UnicodeRegex> regex;
  std::string literal;
  SplitBehavior behavior = SplitBehavior::kIsolated;
  bool invert = false;
  // Metaspace
  std::string replacement = "\xE2\x96\x81";  // U+2581
  PrependScheme prepend_scheme = PrependScheme::kAlways;
  bool split = true;
};

// The GPT-2 split pattern ByteLevel uses when use_regex is true.
std::shared_ptr<const UnicodeRegex> gpt2_split_regex();

// tokenizers' Digits: each numeric char alone (individual_digits) or runs of them.
PreTokenizerStep make_digits(bool individual_digits);
// tokenizers' Punctuation: split on each punctuation char (ASCII punctuation or Unicode P*).
PreTokenizerStep make_punctuation(SplitBehavior behavior);
// tokenizers' Whitespace: words (\w+) and runs of other non-space chars; spaces dropped.
PreTokenizerStep make_whitespace();
// tokenizers' WhitespaceSplit: split on Unicode white space, which is dropped.
PreTokenizerStep make_whitespace_split();

// Splits one normalized segment into words. `at_start`: the segment begins the input text
// (Metaspace prepend_scheme "first" only prepends there).
void pre_tokenize(const std::vector<PreTokenizerStep>& steps, std::string text, bool at_start,
                  std::vector<std::string>& words);

struct DecoderStep {
  enum class Kind { kByteLevel, kReplace, kByteFallback, kFuse, kStrip, kMetaspace };
  Kind kind;
  std::string pattern, content;              // Replace (literal pattern); Strip: content = the char stripped
  size_t start = 0, stop = 0;                // Strip
  std::string replacement = "\xE2\x96\x81";  // Metaspace
  PrependScheme prepend_scheme = PrependScheme::kAlways;
};

// Runs the decoder chain over the token spellings and joins the result (HF joins with " " when
// there is no decoder at all: pass has_decoder = false).
std::string decode_tokens(const std::vector<DecoderStep>& steps, bool has_decoder, std::vector<std::string> tokens);

}  // namespace sp::tok
