// Token ids that Hugging Face tokenizers produced for the reference models (reference.json, made
// by shared/tools/make_reference.py: BOS from config.json + tokenizer.encode(text,
// add_special_tokens=False)), llama2.c's own output for stories260K, and lossless round trips.
#include <gtest/gtest.h>

#include "test_tokenizer_util.h"
#include "test_util.h"
#include "tokenize/tokenizer.h"

namespace sp::tok {
namespace {

std::vector<int32_t> with_bos(const Tokenizer& tok, const std::string& text) {
  std::vector<int32_t> ids{tok.bos_id()};
  const auto body = tok.encode(text);
  ids.insert(ids.end(), body.begin(), body.end());
  return ids;
}

void check_reference(const std::string& model, int bos) {
  const std::string dir = test::shared_path("models/" + model);
  const std::string wiki = test::shared_path("data/wikitext-2-raw/wiki.test.raw");
  const std::string held = test::shared_path("data/refcorpus/heldout-eval.txt");
  if (dir.empty() || wiki.empty() || held.empty()) GTEST_SKIP() << "shared models/data not found";
  const auto ref = test::read_json(dir + "/reference.json");
  const auto tok = Tokenizer::from_model_dir(dir);
  ASSERT_EQ(tok->bos_id(), bos);
  ASSERT_EQ(ref["bos_token_id"].get<int>(), bos);

  EXPECT_EQ(with_bos(*tok, ref["prompt"].get<std::string>()), test::ids_of(ref["prompt_ids"]));

  const auto wiki_ids = with_bos(*tok, test::wikitext_eval_string(test::read_text(wiki)));
  const auto first = test::ids_of(ref["wikitext2_first_ids"]);
  ASSERT_GE(wiki_ids.size(), first.size());
  EXPECT_EQ(std::vector<int32_t>(wiki_ids.begin(), wiki_ids.begin() + static_cast<ptrdiff_t>(first.size())), first);
  EXPECT_EQ(wiki_ids.size(), ref["wikitext2_test_tokens"].get<size_t>());

  EXPECT_EQ(with_bos(*tok, test::read_text(held)).size(), ref["heldout_eval_tokens"].get<size_t>());

  // tokenizers' decode skips special added tokens (LLaMA's <s>); OPT's tokenizer.json has no added
  // tokens, so its BOS decodes as the text "<|endoftext|>".
  EXPECT_EQ(tok->decode(test::ids_of(ref["greedy_continuation_ids"])), ref["greedy_continuation"].get<std::string>());
}

TEST(TokenizerReference, RefLlamaSentencePieceBpe) { check_reference("ref-llama", 1); }
TEST(TokenizerReference, RefOptGpt2ByteLevel) { check_reference("ref-opt", 50256); }

// decode(encode(text)) == text over the whole WikiText-2 test file, with both tokenizer kinds.
TEST(TokenizerReference, WikitextRoundTrip) {
  SP_REQUIRE_SHARED(wiki, "data/wikitext-2-raw/wiki.test.raw");
  SP_REQUIRE_SHARED(llama, "models/ref-llama/tokenizer.json");
  SP_REQUIRE_SHARED(opt, "models/ref-opt/tokenizer.json");
  const std::string text = test::read_text(wiki);
  for (const auto& path : {llama, opt}) {
    const auto tok = Tokenizer::from_tokenizer_json(path);
    const auto ids = tok->encode(text);
    EXPECT_GT(ids.size(), text.size() / 8) << path;
    EXPECT_TRUE(tok->decode(ids) == text) << path;
  }
}

// llama2.c rules over stories260K's vocab.json: the text llama2.c printed for its greedy ids, and
// the same ids back from that text (the model's greedy choices happen to be the canonical
// tokenization here).
TEST(TokenizerReference, Stories260kLlama2c) {
  SP_REQUIRE_SHARED(dir, "models/stories260K-hf");
  const auto expected = test::read_json(dir + "/expected_greedy.json");
  const auto tok = Tokenizer::from_model_dir(dir);
  EXPECT_EQ(tok->vocab_size(), 512);
  EXPECT_EQ(tok->bos_id(), 1);
  EXPECT_EQ(tok->eos_id(), 2);
  auto ids = test::ids_of(expected["start_ids"]);
  const auto gen = test::ids_of(expected["generated_ids"]);
  ids.insert(ids.end(), gen.begin(), gen.end());
  const auto text = expected["text"].get<std::string>();
  EXPECT_EQ(tok->decode(ids), text);
  EXPECT_EQ(tok->encode(text), gen);
}

}  // namespace
}  // namespace sp::tok
