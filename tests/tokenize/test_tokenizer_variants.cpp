// Other spellings of the same tokenizers in tokenizer.json, as newer Hugging Face files write
// them (LLaMA-3 / Qwen style Split + ByteLevel(use_regex=false); Metaspace with prepend_scheme
// "first" instead of the Prepend/Replace normalizer). tokenizers defines these as equivalent on
// the inputs used, so the llama.cpp vectors must come out unchanged.
#include <gtest/gtest.h>

#include "test_tokenizer_util.h"
#include "test_util.h"
#include "tokenize/tokenizer_added.h"
#include "tokenize/tokenizer_hf.h"
#include "tokenize/tokenizer_steps.h"

namespace sp::tok {
namespace {

TEST(TokenizerVariants, SplitRegexThenByteLevelWithoutRegex) {
  SP_REQUIRE_SHARED(inp, "data/tokenizers/test-vectors/ggml-vocab-gpt-2.gguf.inp");
  SP_REQUIRE_SHARED(out, "data/tokenizers/test-vectors/ggml-vocab-gpt-2.gguf.out");
  SP_REQUIRE_SHARED(opt, "models/ref-opt/tokenizer.json");
  auto j = test::read_json(opt);
  j["pre_tokenizer"] = nlohmann::json::parse(R"({"type": "Sequence", "pretokenizers": [
      {"type": "Split", "pattern": {"Regex": "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+"},
       "behavior": "Isolated", "invert": false},
      {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": false}]})");
  const auto tok = HfTokenizer::from_json_text(j.dump(), "ref-opt tokenizer.json (Split variant)");
  for (const auto& c : test::read_vocab_cases(inp, out)) {
    EXPECT_EQ(tok->encode(c.text), c.ids) << "input: '" << c.text << "'";
    EXPECT_EQ(tok->decode(c.ids), c.text);
  }
}

TEST(TokenizerVariants, MetaspacePrependFirst) {
  SP_REQUIRE_SHARED(inp, "data/tokenizers/test-vectors/ggml-vocab-llama-spm.gguf.inp");
  SP_REQUIRE_SHARED(out, "data/tokenizers/test-vectors/ggml-vocab-llama-spm.gguf.out");
  SP_REQUIRE_SHARED(llama, "data/tokenizers/llama2/tokenizer.json");
  auto j = test::read_json(llama);
  j["normalizer"] = nullptr;
  j["pre_tokenizer"] = nlohmann::json::parse(
      R"({"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "first", "split": false})");
  j["decoder"] = nlohmann::json::parse(R"({"type": "Sequence", "decoders": [
      {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "first", "split": false},
      {"type": "ByteFallback"}, {"type": "Fuse"}]})");
  const auto tok = HfTokenizer::from_json_text(j.dump(), "llama2 tokenizer.json (Metaspace variant)");
  size_t checked = 0;
  for (const auto& c : test::read_vocab_cases(inp, out)) {
    // Metaspace does not add "▁" before a text that already starts with one (a space): only
    // texts without a leading space tokenize as with the legacy normalizer.
    if (!c.text.empty() && c.text[0] == ' ') continue;
    ++checked;
    EXPECT_EQ(tok->encode(c.text), c.ids) << "input: '" << c.text << "'";
  }
  EXPECT_GT(checked, 25u);
  // An added token at the start: the text after it does not begin the input, so no "▁" there.
  EXPECT_EQ(tok->encode("<s>Hello"), (std::vector<int32_t>{1, 10994}));  // "Hello" without "▁"
}

// The cases of tokenizers' own metaspace.rs test `non_legacy_meta_space`: text split on "<s>",
// then Metaspace(prepend_scheme = first, split = false) on each piece.
TEST(TokenizerVariants, MetaspaceFirstMatchesTokenizersUnitTest) {
  PreTokenizerStep meta;
  meta.kind = PreTokenizerStep::Kind::kMetaspace;
  meta.prepend_scheme = PrependScheme::kFirst;
  meta.split = false;
  const AddedTokens added({AddedToken{"<s>", 1, true, false, false, false, false, ""}});
  auto run = [&](std::string_view text) {
    std::vector<std::string> words;
    for (const auto& seg : added.split(text, false)) {
      if (seg.id >= 0) {
        words.emplace_back("<s>");
      } else {
        pre_tokenize({meta}, std::string(seg.text), seg.at_start, words);
      }
    }
    return words;
  };
  const std::string m = "\xE2\x96\x81";
  EXPECT_EQ(run("Hey my friend <s>how" + m + "are you"),
            (std::vector<std::string>{m + "Hey" + m + "my" + m + "friend" + m, "<s>", "how" + m + "are" + m + "you"}));
  EXPECT_EQ(run(" Hey <s>how"), (std::vector<std::string>{m + "Hey" + m, "<s>", "how"}));
  EXPECT_EQ(run(" Hey <s>how <s>are <s> you"),
            (std::vector<std::string>{m + "Hey" + m, "<s>", "how" + m, "<s>", "are" + m, "<s>", m + "you"}));
  // Same test, Metaspace(always, split = true): pieces are cut before each "▁".
  meta.prepend_scheme = PrependScheme::kAlways;
  meta.split = true;
  std::vector<std::string> words;
  pre_tokenize({meta}, "Hey   friend!", true, words);
  EXPECT_EQ(words, (std::vector<std::string>{m + "Hey", m, m, m + "friend!"}));
}

}  // namespace
}  // namespace sp::tok
