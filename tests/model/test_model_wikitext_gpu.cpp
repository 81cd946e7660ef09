// Full WikiText-2 test perplexity at seqlen 1024 against transformers' values in reference.json:
// fp32 within 0.1%, bf16 within 0.5%. GPU only (333 windows of 1024 tokens is minutes on the CPU);
// labelled gpu. Uses the project tokenizer and the WikiText protocol of make_reference.py.
#include <gtest/gtest.h>

#include <cmath>

#include "core/context.h"
#include "model/evaluate.h"
#include "model/model.h"
#include "model_test_util.h"
#include "tokenize/dataset.h"
#include "tokenize/tokenizer.h"

namespace sp {
namespace {

struct WikiCase {
  const char* model;
  Precision precision;
  const char* ref_key;
  double rel_tol;
};

void PrintTo(const WikiCase& c, std::ostream* os) { *os << c.model << " " << c.ref_key; }

class WikitextPpl : public ::testing::TestWithParam<WikiCase> {};

TEST_P(WikitextPpl, MatchesTransformers) {
  SP_REQUIRE_GPU();
  const WikiCase c = GetParam();
  SP_REQUIRE_SHARED(dir, std::string("models/") + c.model);
  SP_REQUIRE_SHARED(raw, "data/wikitext-2-raw/wiki.test.raw");
  const auto ref = test::read_json(dir + "/reference.json");
  const int seqlen = ref["eval_seqlen"].get<int>();

  auto tok = tok::Tokenizer::from_model_dir(dir);
  const auto ids = data::load_eval_ids({raw, data::Format::Wikitext}, tok.get(), ref["bos_token_id"].get<int32_t>());
  ASSERT_EQ(int64_t(ids.size()), ref["wikitext2_test_tokens"].get<int64_t>()) << "tokenization differs from HF";
  const auto first = test::json_ids(ref["wikitext2_first_ids"]);
  ASSERT_TRUE(std::equal(first.begin(), first.end(), ids.begin()));

  ExecContext ctx(Device::cuda(0));
  model::Model m(model::open_checkpoint_source(dir), ctx, c.precision);
  const auto r = model::perplexity(m, ctx, ids, seqlen, 8);
  const double want = ref[c.ref_key].get<double>();
  const double rel = std::abs(r.ppl - want) / want;
  std::printf("  %s %s: ppl %.4f vs %.4f (rel diff %.2e), %lld windows, %.2f s\n", c.model, c.ref_key, r.ppl, want, rel,
              static_cast<long long>(r.windows), r.seconds);
  EXPECT_EQ(r.windows, ref["wikitext2_windows"].get<int64_t>());
  EXPECT_LT(rel, c.rel_tol);
}

INSTANTIATE_TEST_SUITE_P(RefModels, WikitextPpl,
                         ::testing::Values(WikiCase{"ref-llama", Precision::Exact32, "wikitext2_ppl_fp32", 1e-3},
                                           WikiCase{"ref-llama", Precision::BF16, "wikitext2_ppl_bf16", 5e-3},
                                           WikiCase{"ref-opt", Precision::Exact32, "wikitext2_ppl_fp32", 1e-3},
                                           WikiCase{"ref-opt", Precision::BF16, "wikitext2_ppl_bf16", 5e-3}),
                         [](const ::testing::TestParamInfo<WikiCase>& p) {
                           std::string n = std::string(p.param.model) +
                                           (p.param.precision == Precision::Exact32 ? "_fp32" : "_bf16");
                           for (char& ch : n)
                             if (ch == '-') ch = '_';
                           return n;
                         });

}  // namespace
}  // namespace sp
