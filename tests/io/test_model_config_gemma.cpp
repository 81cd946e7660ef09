// config.json of Gemma 2 / Gemma 3 (text): the fields as transformers 5 writes them (Gemma2Config /
// Gemma3TextConfig.save_pretrained), the defaults of those classes when a field is absent, the
// older Gemma 3 spelling of its two RoPEs, rejections naming the field, and the write-back.
#include <gtest/gtest.h>

#include "core/error.h"
#include "io/model_config.h"
#include "io_test_util.h"

namespace sp::io {
namespace {

using nlohmann::json;

const char* kLabel = "/models/g/config.json";

// parse_model_config(j) fails with an InputError naming the file and `field`.
void expect_reject(const json& j, const std::string& field) {
  test::expect_input_error([&] { parse_model_config(j, kLabel); }, {kLabel, field});
}

// As Gemma2Config(hidden_size=64, num_hidden_layers=4, num_attention_heads=4, num_key_value_heads=2,
// intermediate_size=96, vocab_size=256, head_dim=16).save_pretrained writes it (transformers 5.25).
json gemma2_saved() {
  return json::parse(R"({
  "attention_bias": false, "attention_dropout": 0.0, "attn_logit_softcapping": 50.0, "bos_token_id": 2,
  "eos_token_id": 1, "final_logit_softcapping": 30.0, "head_dim": 16, "hidden_activation": "gelu_pytorch_tanh",
  "hidden_size": 64, "initializer_range": 0.02, "intermediate_size": 96,
  "layer_types": ["sliding_attention", "full_attention", "sliding_attention", "full_attention"],
  "max_position_embeddings": 8192, "model_type": "gemma2", "num_attention_heads": 4, "num_hidden_layers": 4,
  "num_key_value_heads": 2, "pad_token_id": 0, "query_pre_attn_scalar": 256, "rms_norm_eps": 1e-06,
  "rope_parameters": {"rope_theta": 10000.0, "rope_type": "default"}, "sliding_window": 4096,
  "tie_word_embeddings": true, "transformers_version": "5.25.0", "use_bidirectional_attention": null,
  "use_cache": true, "vocab_size": 256})");
}

// As Gemma3TextConfig(..., rope_local_base_freq=1000.0, rope_scaling={"rope_type": "linear",
// "factor": 2.0}).save_pretrained writes it (transformers 5.25): per-layer-type rope_parameters.
json gemma3_saved() {
  return json::parse(R"({
  "_sliding_window_pattern": 6, "attention_bias": false, "attn_logit_softcapping": null, "bos_token_id": 2,
  "eos_token_id": 1, "final_logit_softcapping": null, "head_dim": 256, "hidden_activation": "gelu_pytorch_tanh",
  "hidden_size": 64, "intermediate_size": 96,
  "layer_types": ["sliding_attention", "sliding_attention", "sliding_attention", "full_attention"],
  "max_position_embeddings": 131072, "model_type": "gemma3_text", "num_attention_heads": 4,
  "num_hidden_layers": 4, "num_key_value_heads": 2, "pad_token_id": 0, "query_pre_attn_scalar": 256,
  "rms_norm_eps": 1e-06,
  "rope_parameters": {"full_attention": {"factor": 2.0, "rope_theta": 1000000.0, "rope_type": "linear"},
                      "sliding_attention": {"rope_theta": 1000.0, "rope_type": "default"}},
  "sliding_window": 4096, "tie_word_embeddings": true, "use_bidirectional_attention": false, "vocab_size": 256})");
}

TEST(ModelConfigGemma, Gemma2AsSaved) {
  const ModelConfig c = parse_model_config(gemma2_saved(), kLabel);
  EXPECT_EQ(c.family, ArchFamily::Gemma);
  EXPECT_EQ(c.head_dim, 16);  // not hidden / heads
  EXPECT_EQ(c.hidden_act, "gelu_pytorch_tanh");
  EXPECT_FLOAT_EQ(c.norm_offset, 1.f);
  EXPECT_DOUBLE_EQ(c.query_pre_attn_scalar, 256.0);
  EXPECT_FLOAT_EQ(c.attn_softcap, 50.f);
  EXPECT_FLOAT_EQ(c.final_softcap, 30.f);
  EXPECT_TRUE(c.tie_embeddings);
  EXPECT_FALSE(c.qk_norm);
  EXPECT_FALSE(c.qkv_bias || c.o_bias || c.mlp_bias);
  EXPECT_EQ(c.layer_window, (std::vector<int>{4096, 0, 4096, 0}));
  EXPECT_DOUBLE_EQ(c.rope_base, 10000.0);
  EXPECT_DOUBLE_EQ(c.rope_local_base, 0.0);  // one RoPE for both layer types
  EXPECT_EQ(c.layers.at(0), (LayerShape{4, 2, 96}));
}

TEST(ModelConfigGemma, Gemma2Defaults) {
  json j = gemma2_saved();
  for (const char* f : {"head_dim", "attn_logit_softcapping", "final_logit_softcapping", "layer_types",
                        "query_pre_attn_scalar", "sliding_window", "tie_word_embeddings", "rope_parameters"})
    j.erase(f);
  ModelConfig c = parse_model_config(j, kLabel);
  EXPECT_EQ(c.head_dim, 256);  // Gemma2Config's default, not 64 / 4
  EXPECT_FLOAT_EQ(c.attn_softcap, 50.f);
  EXPECT_FLOAT_EQ(c.final_softcap, 30.f);
  EXPECT_EQ(c.layer_window, (std::vector<int>{4096, 0, 4096, 0}));  // even layers slide
  EXPECT_TRUE(c.tie_embeddings);
  // null switches a soft-cap off.
  j["attn_logit_softcapping"] = nullptr;
  j["final_logit_softcapping"] = nullptr;
  c = parse_model_config(j, kLabel);
  EXPECT_EQ(c.attn_softcap, 0.f);
  EXPECT_EQ(c.final_softcap, 0.f);
}

TEST(ModelConfigGemma, Gemma3AsSaved) {
  const ModelConfig c = parse_model_config(gemma3_saved(), kLabel);
  EXPECT_EQ(c.family, ArchFamily::Gemma);
  EXPECT_EQ(c.head_dim, 256);
  EXPECT_TRUE(c.qk_norm);
  EXPECT_EQ(c.attn_softcap, 0.f);
  EXPECT_EQ(c.final_softcap, 0.f);
  EXPECT_EQ(c.layer_window, (std::vector<int>{4096, 4096, 4096, 0}));
  EXPECT_EQ(c.rope.type, RopeScaling::Type::kLinear);
  EXPECT_DOUBLE_EQ(c.rope.factor, 2.0);
  EXPECT_DOUBLE_EQ(c.rope_base, 1e6);
  EXPECT_EQ(c.rope_local.type, RopeScaling::Type::kDefault);
  EXPECT_DOUBLE_EQ(c.rope_local_base, 1000.0);
}

TEST(ModelConfigGemma, Gemma3OlderSpelling) {
  // transformers 4: rope_theta, rope_scaling (full layers), rope_local_base_freq, sliding_window_pattern.
  json j = gemma3_saved();
  j.erase("rope_parameters");
  j.erase("layer_types");
  j["rope_theta"] = 500000.0;
  j["rope_local_base_freq"] = 100.0;
  j["rope_scaling"] = {{"rope_type", "linear"}, {"factor", 8.0}};
  j["sliding_window_pattern"] = 2;
  j["attn_logit_softcapping"] = 20.0;  // Gemma 3's attention does not read it
  ModelConfig c = parse_model_config(j, kLabel);
  EXPECT_DOUBLE_EQ(c.rope_base, 500000.0);
  EXPECT_DOUBLE_EQ(c.rope.factor, 8.0);
  EXPECT_DOUBLE_EQ(c.rope_local_base, 100.0);
  EXPECT_EQ(c.rope_local.type, RopeScaling::Type::kDefault);
  EXPECT_EQ(c.layer_window, (std::vector<int>{4096, 0, 4096, 0}));
  EXPECT_EQ(c.attn_softcap, 0.f);
  // Nothing given: Gemma3TextConfig's 1e6 / 1e4 and every sixth layer global.
  for (const char* f : {"rope_theta", "rope_local_base_freq", "rope_scaling", "sliding_window_pattern"}) j.erase(f);
  j["num_hidden_layers"] = 7;
  c = parse_model_config(j, kLabel);
  EXPECT_DOUBLE_EQ(c.rope_base, 1e6);
  EXPECT_DOUBLE_EQ(c.rope_local_base, 1e4);
  EXPECT_EQ(c.layer_window, (std::vector<int>{4096, 4096, 4096, 4096, 4096, 0, 4096}));
}

TEST(ModelConfigGemma, Rejections) {
  json j = gemma2_saved();
  j["hidden_activation"] = "gelu";
  expect_reject(j, "hidden_activation");
  j = gemma2_saved();
  j["layer_types"][1] = "chunked_attention";
  expect_reject(j, "layer_types");
  j = gemma2_saved();
  j["layer_types"].erase(0);
  expect_reject(j, "layer_types");
  j = gemma2_saved();
  j["final_logit_softcapping"] = 0.0;
  expect_reject(j, "final_logit_softcapping");
  j = gemma2_saved();
  j["use_bidirectional_attention"] = true;
  expect_reject(j, "use_bidirectional_attention");
  j = gemma2_saved();
  j["query_pre_attn_scalar"] = -1;
  expect_reject(j, "query_pre_attn_scalar");
  j = gemma3_saved();
  j["rope_parameters"] = {{"rope_type", "default"}, {"rope_theta", 10000.0}};  // not per layer type
  expect_reject(j, "rope_parameters");
  j = gemma3_saved();
  j["rope_parameters"]["sliding_attention"]["rope_type"] = "longrope";
  expect_reject(j, "rope_parameters.sliding_attention");
}

TEST(ModelConfigGemma, WriteBackKeepsGemmaFields) {
  for (const json& saved : {gemma2_saved(), gemma3_saved()}) {
    ModelConfig c = parse_model_config(saved, kLabel);
    for (auto& l : c.layers) l = LayerShape{2, 1, 40};  // uniform: stock fields only
    const json out = model_config_to_json(c);
    EXPECT_EQ(out["head_dim"], saved["head_dim"]);
    EXPECT_EQ(out["query_pre_attn_scalar"], 256);
    EXPECT_EQ(out["layer_types"], saved["layer_types"]);
    EXPECT_EQ(out["rope_parameters"], saved["rope_parameters"]);
    EXPECT_EQ(out["num_attention_heads"], 2);
    EXPECT_FALSE(out.contains("struprune_layers"));
    const ModelConfig back = parse_model_config(out, kLabel);
    EXPECT_EQ(back.layers, c.layers);
    EXPECT_EQ(back.head_dim, c.head_dim);
    EXPECT_EQ(back.layer_window, c.layer_window);
  }
  // head_dim absent in the original (the default 256) is written, so stock readers never derive it.
  json j = gemma2_saved();
  j.erase("head_dim");
  const json out = model_config_to_json(parse_model_config(j, kLabel));
  EXPECT_EQ(out["head_dim"], 256);
}

}  // namespace
}  // namespace sp::io
