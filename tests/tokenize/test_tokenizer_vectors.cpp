// llama.cpp's tokenizer conformance vectors (tests/test-tokenizer-0 data). Their convention, read
// from the files and checked by hand on a few cases: each `.inp` case is tokenized as Hugging Face
// `tokenizer.encode(text, add_special_tokens=False)` would (no BOS; the text exactly as given, so
// SentencePiece's own "▁" prefix comes only from the normalizer: "Hello world" -> 15043 3186 =
// "▁Hello ▁world", while " Hello world" -> 29871 15043 3186 = "▁" "▁Hello" "▁world"). Cases are
// separated by lines "__ggml_vocab_test__" (the file ends with one); `.out` holds one line of
// space-separated ids per case (an empty line for the empty input).
#include <gtest/gtest.h>

#include "test_tokenizer_util.h"
#include "test_util.h"
#include "tokenize/tokenizer.h"

namespace sp::tok {
namespace {

void check_all(const Tokenizer& tok, const std::vector<test::VocabCase>& cases) {
  ASSERT_GT(cases.size(), 40u);
  for (const auto& c : cases) {
    EXPECT_EQ(tok.encode(c.text), c.ids) << "input: '" << c.text << "'";
    // The ids decode back to the text (both decoders are lossless on valid UTF-8 input).
    EXPECT_EQ(tok.decode(c.ids), c.text) << "input: '" << c.text << "'";
  }
}

TEST(TokenizerVectors, Gpt2ByteLevelFromVocabMerges) {
  SP_REQUIRE_SHARED(inp, "data/tokenizers/test-vectors/ggml-vocab-gpt-2.gguf.inp");
  SP_REQUIRE_SHARED(out, "data/tokenizers/test-vectors/ggml-vocab-gpt-2.gguf.out");
  SP_REQUIRE_SHARED(vocab, "data/tokenizers/gpt2/encoder.json");
  SP_REQUIRE_SHARED(merges, "data/tokenizers/gpt2/vocab.bpe");
  const auto tok = Tokenizer::from_vocab_merges(vocab, merges);
  EXPECT_EQ(tok->vocab_size(), 50257);
  EXPECT_EQ(tok->bos_id(), 50256);
  check_all(*tok, test::read_vocab_cases(inp, out));
}

TEST(TokenizerVectors, LlamaSentencePieceFromTokenizerJson) {
  SP_REQUIRE_SHARED(inp, "data/tokenizers/test-vectors/ggml-vocab-llama-spm.gguf.inp");
  SP_REQUIRE_SHARED(out, "data/tokenizers/test-vectors/ggml-vocab-llama-spm.gguf.out");
  SP_REQUIRE_SHARED(json, "data/tokenizers/llama2/tokenizer.json");
  const auto tok = Tokenizer::from_tokenizer_json(json);
  EXPECT_EQ(tok->vocab_size(), 32000);
  EXPECT_EQ(tok->bos_id(), 1);
  EXPECT_EQ(tok->eos_id(), 2);
  check_all(*tok, test::read_vocab_cases(inp, out));
}

}  // namespace
}  // namespace sp::tok
