// Phi-3 / Phi-4 specifics the reference model (tests/data/families/phi3_*) does not isolate:
// the fused tensors' table (q, k, v tile qkv_proj in that order; gate, up the halves of
// gate_up_proj, gate first, as transformers' Phi3MLP chunks it) and greedy generation across
// LongRoPE's switch to the long factors, where transformers' Phi3ForCausalLM drops its cache and
// recomputes the sequence: every step must then equal a full forward of the sequence so far.
#include <gtest/gtest.h>

#include <algorithm>
#include <vector>

#include "core/context.h"
#include "io/model_config.h"
#include "model/evaluate.h"
#include "model/model.h"
#include "model/rope.h"
#include "model_test_util.h"

namespace sp::model {
namespace {

using nlohmann::json;

io::ModelConfig phi3_config(int original_max) {
  std::vector<double> sf, lf;
  for (int i = 0; i < 4; ++i) sf.push_back(1.0 + 0.2 * i), lf.push_back(3.0 + 4.0 * i);
  const json j = {{"model_type", "phi3"},
                  {"hidden_size", 64},
                  {"num_hidden_layers", 2},
                  {"num_attention_heads", 4},
                  {"num_key_value_heads", 2},
                  {"intermediate_size", 48},
                  {"vocab_size", 64},
                  {"max_position_embeddings", 256},
                  {"original_max_position_embeddings", original_max},
                  {"rope_parameters",
                   {{"rope_type", "longrope"},
                    {"rope_theta", 10000.0},
                    {"partial_rotary_factor", 0.5},
                    {"short_factor", sf},
                    {"long_factor", lf}}}};
  return io::parse_model_config(j, "config.json");
}

TEST(Phi3, FusedTensorsTileInTransformersOrder) {
  const io::ModelConfig c = phi3_config(32);
  const std::vector<TensorSpec> specs = llama_arch().layer_specs(c, 1);
  const std::vector<StoredTensor> stored = stored_tensors(specs);
  std::vector<std::string> names;
  for (const StoredTensor& t : stored) names.push_back(t.name);
  EXPECT_EQ(names, (std::vector<std::string>{
                       "model.layers.1.input_layernorm.weight", "model.layers.1.post_attention_layernorm.weight",
                       "model.layers.1.self_attn.qkv_proj.weight", "model.layers.1.self_attn.o_proj.weight",
                       "model.layers.1.mlp.gate_up_proj.weight", "model.layers.1.mlp.down_proj.weight"}));
  const StoredTensor& qkv = stored[2];
  EXPECT_EQ(qkv.shape, (Shape{64 + 2 * 32, 64}));  // 4 heads + 2 x 2 KV heads of 16
  ASSERT_EQ(qkv.parts.size(), 3u);
  EXPECT_EQ(qkv.parts[0]->role, Role::QWeight);
  EXPECT_EQ(qkv.parts[1]->role, Role::KWeight);
  EXPECT_EQ(qkv.parts[1]->row0, 64);
  EXPECT_EQ(qkv.parts[2]->role, Role::VWeight);
  EXPECT_EQ(qkv.parts[2]->row0, 96);
  const StoredTensor& gate_up = stored[4];
  EXPECT_EQ(gate_up.shape, (Shape{96, 64}));
  ASSERT_EQ(gate_up.parts.size(), 2u);
  EXPECT_EQ(gate_up.parts[0]->role, Role::GateWeight);
  EXPECT_EQ(gate_up.parts[1]->role, Role::UpWeight);
  EXPECT_EQ(gate_up.parts[1]->row0, 48);
  // A layer pruned to no heads / no neurons stores neither fused tensor.
  io::ModelConfig gone = c;
  gone.layers[1] = {0, 0, 0};
  for (const TensorSpec& s : llama_arch().layer_specs(gone, 1))
    EXPECT_TRUE(s.role == Role::AttnNormWeight || s.role == Role::MlpNormWeight) << s.name;
}

class Phi3Generate : public ::testing::TestWithParam<Device> {};

TEST_P(Phi3Generate, StepsEqualFullForwardsAcrossTheLongRopeSwitch) {
  const int original = 12;
  ExecContext ctx(GetParam());
  Model m(make_synthetic_source(phi3_config(original), 7, 0.4f), ctx, Precision::Exact32);
  const std::vector<int32_t> prompt = {5, 17, 33, 2, 60, 41, 9, 28};
  const int n = 12;  // passes 12 tokens at the 5th new one
  ASSERT_TRUE(rope_restarts_cache(m.config(), original, original + 1));
  const std::vector<int32_t> got = generate_greedy(m, ctx, prompt, n, -1);
  ASSERT_EQ(got.size(), size_t(n));
  std::vector<int32_t> seq = prompt;
  for (int s = 0; s < n; ++s) {
    const std::vector<float> logits = prompt_last_logits(m, ctx, seq);
    const int32_t want = int32_t(std::max_element(logits.begin(), logits.end()) - logits.begin());
    EXPECT_EQ(got[size_t(s)], want) << "step " << s << " (sequence of " << seq.size() << " tokens)";
    seq.push_back(want);
  }
}

INSTANTIATE_TEST_SUITE_P(Devices, Phi3Generate, ::testing::ValuesIn(test::model_test_devices()),
                         test::device_param_name);

}  // namespace
}  // namespace sp::model
