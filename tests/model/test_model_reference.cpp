// The engine against INDEPENDENT references: llama2.c's greedy output for stories260K, and values
// computed by Hugging Face transformers (fp32 over the bf16 files) in reference.json for ref-llama
// and ref-opt. Runs on the CPU, and on CUDA too when a GPU is visible (same assertions, fp32).
#include <gtest/gtest.h>

#include <map>

#include "core/context.h"
#include "kernels/ops.h"
#include "model/decode_loop.h"
#include "model/evaluate.h"
#include "model/model.h"
#include "model/weight_source.h"
#include "model_test_util.h"

namespace sp {
namespace {

using test::json_ids;
using test::max_abs_diff;

class ModelReference : public ::testing::TestWithParam<Device> {
 protected:
  ExecContext ctx{GetParam()};
  std::unique_ptr<model::Model> open(const std::string& dir) {
    return std::make_unique<model::Model>(model::open_checkpoint_source(dir), ctx, Precision::Exact32);
  }
};

// With the weights as stored, and stacked as generate loads them (Model::fuse_projections).
TEST_P(ModelReference, Stories260kGreedyMatchesLlama2c) {
  SP_REQUIRE_SHARED(dir, "models/stories260K-hf");
  const auto expected = test::read_json(dir + "/expected_greedy.json");
  const auto start = json_ids(expected["start_ids"]);
  const auto want = json_ids(expected["generated_ids"]);
  ASSERT_EQ(want.size(), 200u);
  for (const bool fused : {false, true}) {
    auto m = open(dir);
    m->fuse_projections(fused);
    const auto got = model::generate_greedy(*m, ctx, start, int(want.size()));
    ASSERT_EQ(got.size(), want.size());
    for (size_t i = 0; i < want.size(); ++i)
      ASSERT_EQ(got[i], want[i]) << "first mismatch at generated id " << i << (fused ? " (stacked projections)" : "");
  }
}

// On a GPU the decode step is recorded once as a CUDA graph and replayed (model/decode_loop.h): the
// tokens are those of the step launched op by op, in fp32 (stories260K) and in bf16 (ref-llama,
// 4 windows of the throughput probe's path, which must report a replayed graph).
TEST_P(ModelReference, DecodeGraphGivesTheOpByOpTokens) {
  if (GetParam().is_cpu()) GTEST_SKIP() << "CUDA graphs: GPU only (the CPU always runs op by op)";
  SP_REQUIRE_SHARED(dir, "models/stories260K-hf");
  auto m = open(dir);
  const std::vector<int32_t> start = {1, 403, 411};
  EXPECT_EQ(model::generate_greedy(*m, ctx, start, 150, -1, true),
            model::generate_greedy(*m, ctx, start, 150, -1, false));
  SP_REQUIRE_SHARED(llama, "models/ref-llama");
  model::Model bf(model::open_checkpoint_source(llama), ctx, Precision::BF16);
  bf.fuse_projections(true);  // as bench loads it
  std::vector<model::LayerWeights> layers;
  for (int l = 0; l < bf.n_layers(); ++l) layers.push_back(bf.load_layer(ctx, l));
  auto decode = [&](bool graphs) {
    std::vector<model::LayerKvCache> caches;
    for (int l = 0; l < bf.n_layers(); ++l) caches.push_back(bf.make_kv_cache(ctx, l, 4, 40));
    const Tensor pos = model::positions_tensor(ctx, 4, 7, 0);
    std::vector<int32_t> prompt;
    for (int i = 0; i < 28; ++i) prompt.push_back(int32_t(100 + 37 * i));
    Tensor h = bf.embed(ctx, model::ids_tensor(ctx, prompt), pos);
    for (int l = 0; l < bf.n_layers(); ++l)
      bf.forward_layer(ctx, l, layers[size_t(l)], h, pos, 4, 7, nullptr, &caches[size_t(l)]);
    const Tensor last = ops::embedding(ctx, h, model::ids_tensor(ctx, std::vector<int32_t>{6, 13, 20, 27}));
    model::DecodeLoop loop(bf, ctx, layers, caches, ops::argmax_rows(ctx, bf.logits(ctx, bf.final_norm(ctx, last))), 7,
                           graphs);
    std::vector<int32_t> ids;
    for (int s = 0; s < 30; ++s) {
      loop.step();
      const Tensor host = loop.ids().to(Device::cpu());
      ids.insert(ids.end(), host.data<int32_t>(), host.data<int32_t>() + host.numel());
    }
    EXPECT_EQ(loop.recorded(), graphs);
    return ids;
  };
  EXPECT_EQ(decode(true), decode(false));
}

// Several windows per batch (4 + a remainder of 2) give what one window at a time gives.
TEST_P(ModelReference, BatchedWindowsEqualOneAtATime) {
  SP_REQUIRE_SHARED(dir, "models/stories260K-hf");
  auto m = open(dir);
  std::vector<int32_t> ids = {1};
  for (int32_t t : model::generate_greedy(*m, ctx, ids, 200)) ids.push_back(t);
  const auto one = model::perplexity(*m, ctx, ids, 32, 1);
  const auto four = model::perplexity(*m, ctx, ids, 32, 4);
  EXPECT_EQ(one.windows, 6);
  EXPECT_EQ(four.windows, 6);
  EXPECT_EQ(four.tokens, 6 * 31);
  EXPECT_NEAR(four.mean_nll, one.mean_nll, 1e-6);
  std::vector<double> f(four.first_window_nll.begin(), four.first_window_nll.end());
  EXPECT_LT(max_abs_diff(one.first_window_nll, f), 1e-5);
  EXPECT_EQ(model::perplexity(*m, ctx, ids, 32, 2, 3).windows, 3);
}

// Streaming reads each layer's weights once per group of resident windows, not once per batch.
class CountingSource final : public model::WeightSource {
 public:
  explicit CountingSource(std::unique_ptr<model::WeightSource> s) : s_(std::move(s)) {}
  const io::ModelConfig& config() const override { return s_->config(); }
  std::string describe() const override { return s_->describe(); }
  bool synthetic() const override { return s_->synthetic(); }
  void validate(const std::vector<model::TensorSpec>& specs, const std::vector<std::string>& ign) override {
    s_->validate(specs, ign);
  }
  Tensor load(const model::TensorSpec& spec, DType dt, Device d) override {
    ++loads[spec.name];
    return s_->load(spec, dt, d);
  }
  std::map<std::string, int> loads;

 private:
  std::unique_ptr<model::WeightSource> s_;
};

TEST_P(ModelReference, PerplexityLoadsEachLayerOncePerGroup) {
  SP_REQUIRE_SHARED(dir, "models/stories260K-hf");
  auto counting = std::make_unique<CountingSource>(model::open_checkpoint_source(dir));
  CountingSource* c = counting.get();
  model::Model m(std::move(counting), ctx, Precision::Exact32);
  std::vector<int32_t> ids(10 * 32, 5);  // 10 windows in batches of 2: one group (a few KiB)
  EXPECT_EQ(model::perplexity(m, ctx, ids, 32, 2).windows, 10);
  EXPECT_EQ(c->loads.at("model.layers.0.mlp.down_proj.weight"), 1);
  EXPECT_EQ(c->loads.at("model.layers.4.self_attn.q_proj.weight"), 1);
  EXPECT_EQ(c->loads.at("model.embed_tokens.weight"), 1);  // globals: loaded by the constructor
}

void check_first_window(model::Model& m, ExecContext& ctx, const nlohmann::json& ref) {
  const auto ids = json_ids(ref["wikitext2_first_ids"]);
  const auto want = ref["wikitext2_first_window_nll_fp32"].get<std::vector<double>>();
  const int seqlen = ref["eval_seqlen"].get<int>();
  ASSERT_EQ(int(ids.size()), seqlen);
  const auto r = model::perplexity(m, ctx, ids, seqlen, 1);
  ASSERT_EQ(r.first_window_nll.size(), want.size());
  const double diff = max_abs_diff(r.first_window_nll, want);
  ::testing::Test::RecordProperty("first_window_nll_max_abs_diff", std::to_string(diff));
  std::printf("  first-window NLL: max abs diff %.3g over %zu tokens (%.2f s)\n", diff, want.size(), r.seconds);
  EXPECT_LT(diff, 1e-3);
}

void check_prompt(model::Model& m, ExecContext& ctx, const nlohmann::json& ref) {
  const auto prompt = json_ids(ref["prompt_ids"]);
  const auto want = ref["prompt_last_logits_fp32"].get<std::vector<double>>();
  const auto got = model::prompt_last_logits(m, ctx, prompt);
  ASSERT_EQ(got.size(), want.size());
  const double diff = max_abs_diff(got, want);
  std::printf("  prompt last logits: max abs diff %.3g over %zu logits\n", diff, want.size());
  EXPECT_LT(diff, 1e-3);

  const auto cont = json_ids(ref["greedy_continuation_ids"]);
  ASSERT_GT(cont.size(), prompt.size());
  ASSERT_TRUE(std::equal(prompt.begin(), prompt.end(), cont.begin()));
  const auto gen = model::generate_greedy(m, ctx, prompt, int(cont.size() - prompt.size()), m.config().eos_token_id);
  std::vector<int32_t> full(prompt.begin(), prompt.end());
  full.insert(full.end(), gen.begin(), gen.end());
  EXPECT_EQ(full, cont);
}

TEST_P(ModelReference, RefLlamaMatchesTransformersFp32) {
  SP_REQUIRE_SHARED(dir, "models/ref-llama");
  const auto ref = test::read_json(dir + "/reference.json");
  auto m = open(dir);
  check_first_window(*m, ctx, ref);
  check_prompt(*m, ctx, ref);
}

TEST_P(ModelReference, RefOptMatchesTransformersFp32) {
  SP_REQUIRE_SHARED(dir, "models/ref-opt");
  const auto ref = test::read_json(dir + "/reference.json");
  auto m = open(dir);
  check_first_window(*m, ctx, ref);
  check_prompt(*m, ctx, ref);
}

INSTANTIATE_TEST_SUITE_P(Devices, ModelReference, ::testing::ValuesIn(test::model_test_devices()),
                         test::device_param_name);

}  // namespace
}  // namespace sp
