// The evaluation and calibration streams with the real tokenizers, against the values Hugging Face
// produced in shared/models/*/reference.json (make_reference.py): the WikiText-2 string's token
// count and first ids (BOS in front), the held-out text's count, and the C4 stream of the first 300
// documents cut at 256 windows (its window count).
#include <gtest/gtest.h>

#include <set>

#include "test_util.h"
#include "tokenize/sampling.h"

namespace sp::data {
namespace {

struct RefModel {
  std::string dir;
  nlohmann::json ref;
  std::unique_ptr<tok::Tokenizer> tokenizer;
  int32_t bos = -1;
};

// Loads the model folder's tokenizer; skips the calling test when the shared data is missing.
#define SP_LOAD_REF_MODEL(var, name)                                            \
  SP_REQUIRE_SHARED(var##_dir, "models/" name "/reference.json");                \
  RefModel var;                                                                 \
  var.dir = ::sp::test::shared_path("models/" name);                            \
  var.ref = ::sp::test::read_json(var##_dir);                                   \
  var.tokenizer = tok::Tokenizer::from_model_dir(var.dir);                      \
  var.bos = var.ref.at("bos_token_id").get<int32_t>()

void check_wikitext(const RefModel& m) {
  SP_REQUIRE_SHARED(raw, "data/wikitext-2-raw/wiki.test.raw");
  const std::vector<int32_t> ids = load_eval_ids({raw}, m.tokenizer.get(), m.bos);
  EXPECT_EQ(int64_t(ids.size()), m.ref.at("wikitext2_test_tokens").get<int64_t>());
  if (m.ref.contains("wikitext2_first_ids")) {
    const auto first = m.ref.at("wikitext2_first_ids").get<std::vector<int32_t>>();
    ASSERT_GE(ids.size(), first.size());
    EXPECT_EQ(std::vector<int32_t>(ids.begin(), ids.begin() + int64_t(first.size())), first);
  }
}

void check_heldout_and_c4(const RefModel& m) {
  SP_REQUIRE_SHARED(held, "data/refcorpus/heldout-eval.txt");
  SP_REQUIRE_SHARED(c4, "data/c4/c4-calib.jsonl");
  EXPECT_EQ(int64_t(load_eval_ids({held}, m.tokenizer.get(), m.bos).size()),
            m.ref.at("heldout_eval_tokens").get<int64_t>());
  const int64_t seq = m.ref.at("eval_seqlen").get<int64_t>();
  EvalOptions opts;
  opts.max_docs = 300;
  opts.max_tokens = 256 * seq;
  const std::vector<int32_t> ids = load_eval_ids({c4}, m.tokenizer.get(), m.bos, opts);
  EXPECT_EQ(int64_t(ids.size()) / seq, m.ref.at("c4_windows").get<int64_t>());
  EXPECT_NE(ids.front(), m.bos);  // SparseGPT's C4 validation stream has no BOS
}

TEST(DatasetReal, LlamaWikitextMatchesReference) {
  SP_LOAD_REF_MODEL(m, "ref-llama");
  check_wikitext(m);
}

TEST(DatasetReal, LlamaHeldoutAndC4MatchReference) {
  SP_LOAD_REF_MODEL(m, "ref-llama");
  check_heldout_and_c4(m);
}

TEST(DatasetReal, OptWikitextMatchesReference) {
  SP_LOAD_REF_MODEL(m, "ref-opt");
  check_wikitext(m);
}

TEST(DatasetReal, OptHeldoutAndC4MatchReference) {
  SP_LOAD_REF_MODEL(m, "ref-opt");
  check_heldout_and_c4(m);
}

// C4 calibration with the real tokenizer: every window is a slice of BOS + encode(document) of a
// document longer than seqlen (SparseGPT's loader), and the selection is a function of the seed.
TEST(DatasetReal, LlamaC4CalibrationWindows) {
  SP_LOAD_REF_MODEL(m, "ref-llama");
  SP_REQUIRE_SHARED(c4, "data/c4/c4-calib.jsonl");
  const int64_t seqlen = 512;
  Dataset data({c4}, m.tokenizer.get(), m.bos);
  const CalibrationPlan plan = plan_windows(data, 8, seqlen, 0);
  const auto windows = materialize(data, plan, rank_share(8, 0, 1));
  const JsonlDocs docs = JsonlDocs::open(c4, "text");
  for (size_t s = 0; s < windows.size(); ++s) {
    const WindowRef& w = plan.windows[s];
    std::vector<int32_t> doc = m.tokenizer->encode(docs.text(w.source));
    doc.insert(doc.begin(), m.bos);
    ASSERT_GT(int64_t(doc.size()), seqlen);
    ASSERT_LE(w.offset + seqlen, int64_t(doc.size()) - 1);
    EXPECT_EQ(windows[s], std::vector<int32_t>(doc.begin() + w.offset, doc.begin() + w.offset + seqlen));
  }
  EXPECT_EQ(sample_calibration({c4}, m.tokenizer.get(), 8, seqlen, 0, m.bos), windows);
  EXPECT_NE(sample_calibration({c4}, m.tokenizer.get(), 8, seqlen, 1, m.bos), windows);
}

}  // namespace
}  // namespace sp::data
