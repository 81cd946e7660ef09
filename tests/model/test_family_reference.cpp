// Every supported family against transformers: the small seeded models in tests/data/families (made by
// tests/interop/make_family_models.py, which records what transformers computes) must give, on the CPU
// and on CUDA when visible: the prompt's last-row logits and per-token NLL within 1e-4 (fp32), the
// held-out perplexity within 1e-5 relative (fp32) and 0.5% (bf16), and transformers' greedy
// continuation through the KV cache wherever its top-1 margin is not a near-tie.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "core/context.h"
#include "model/evaluate.h"
#include "model/model.h"
#include "model/weight_source.h"
#include "model_test_util.h"

namespace sp {
namespace {

namespace fs = std::filesystem;

std::vector<std::string> family_cases() {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(fs::path(test::source_dir()) / "tests/data/families"))
    if (fs::exists(e.path() / "reference.json")) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

struct FamilyCase {
  std::string name;
  Device device;
};
void PrintTo(const FamilyCase& c, std::ostream* os) { *os << c.name << " on " << c.device.str(); }

std::vector<FamilyCase> all_params() {
  std::vector<FamilyCase> p;
  for (const auto& n : family_cases())
    for (const Device& d : test::model_test_devices()) p.push_back({n, d});
  return p;
}

class FamilyReference : public ::testing::TestWithParam<FamilyCase> {
 protected:
  ExecContext ctx{GetParam().device};
  std::string dir = (fs::path(test::source_dir()) / "tests/data/families" / GetParam().name).string();
  nlohmann::json ref = test::read_json(dir + "/reference.json");
  std::unique_ptr<model::Model> open(Precision p) {
    return std::make_unique<model::Model>(model::open_checkpoint_source(dir), ctx, p);
  }
  double ppl(Precision p) {
    auto m = open(p);
    const auto ids = test::json_ids(ref["heldout_ids"]);
    const int seqlen = ref["eval_seqlen"].get<int>();
    const auto r = model::perplexity(*m, ctx, ids, seqlen, 2);
    EXPECT_EQ(r.windows, ref["eval_windows"].get<int>());
    return r.ppl;
  }
};

TEST_P(FamilyReference, PromptLogitsMatchTransformers) {
  auto m = open(Precision::Exact32);
  const auto prompt = test::json_ids(ref["prompt_ids"]);
  const auto last = model::prompt_last_logits(*m, ctx, prompt);
  const auto want = ref["prompt_last_logits_fp32"].get<std::vector<double>>();
  ASSERT_EQ(last.size(), want.size());
  EXPECT_LT(test::max_abs_diff(last, want), 1e-4);
  const auto nll = model::perplexity(*m, ctx, prompt, int(prompt.size()), 1).first_window_nll;
  EXPECT_LT(test::max_abs_diff(nll, ref["prompt_nll_fp32"].get<std::vector<double>>()), 1e-4);
}

TEST_P(FamilyReference, PerplexityMatchesTransformersFp32) {
  EXPECT_NEAR(ppl(Precision::Exact32) / ref["heldout_ppl_fp32"].get<double>(), 1.0, 1e-5);
}

TEST_P(FamilyReference, PerplexityMatchesTransformersBf16) {
  if (GetParam().device.is_cpu()) GTEST_SKIP() << "bf16 runs on CUDA only (the CPU computes in fp32)";
  EXPECT_NEAR(ppl(Precision::BF16) / ref["heldout_ppl_bf16"].get<double>(), 1.0, 5e-3);
}

// With the weights as stored, and stacked as generate loads them (one q / k / v and one gate / up
// product, RoPE and the cache append fused).
TEST_P(FamilyReference, GreedyMatchesTransformersKvCache) {
  for (const bool fused : {false, true}) {
    auto m = open(Precision::Exact32);
    m->fuse_projections(fused);
    const auto want = test::json_ids(ref["greedy_ids"]);
    const auto margins = ref["greedy_margins"].get<std::vector<double>>();
    const auto got = model::generate_greedy(*m, ctx, test::json_ids(ref["prompt_ids"]), int(want.size()));
    ASSERT_EQ(got.size(), want.size());
    // After a near-tie the two continuations may part for good: compare up to the first one.
    for (size_t i = 0; i < want.size() && margins[i] > 1e-3; ++i)
      ASSERT_EQ(got[i], want[i]) << "step " << i << (fused ? " (stacked projections)" : "");
  }
}

INSTANTIATE_TEST_SUITE_P(Families, FamilyReference, ::testing::ValuesIn(all_params()),
                         [](const ::testing::TestParamInfo<FamilyCase>& p) {
                           return p.param.name + "_" + (p.param.device.is_cpu() ? std::string("cpu") : "cuda");
                         });

// The set of families is what the README lists: a case folder cannot vanish unnoticed.
TEST(FamilyReferenceSet, EveryListedFamilyHasAModel) {
  const auto names = family_cases();
  for (const char* want : {"llama_gqa_bias", "mistral_sliding", "qwen2_sliding", "qwen3_sliding",
                           "qwen3_bias_layer_types", "gemma2", "gemma3_text", "phi3_longrope", "phi4_mini"})
    EXPECT_NE(std::find(names.begin(), names.end(), want), names.end()) << want;
}

}  // namespace
}  // namespace sp
