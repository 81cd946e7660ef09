// config.json parsing: the three real configs (values as written in their config.json), the
// supported variants, every rejection naming the file and the field, and the write-back.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "io/model_config.h"
#include "io_test_util.h"
#include "test_util.h"

namespace sp::io {
namespace {

using nlohmann::json;

const char* kLabel = "/models/x/config.json";

// parse_model_config(j) fails with an InputError naming the file and `field`.
void expect_reject(const json& j, const std::string& field) {
  test::expect_input_error([&] { parse_model_config(j, kLabel); }, {kLabel, field});
}

json llama_base() {
  return json{{"model_type", "llama"},    {"hidden_size", 256},
              {"num_hidden_layers", 2},   {"num_attention_heads", 8},
              {"num_key_value_heads", 2}, {"intermediate_size", 512},
              {"vocab_size", 1000},       {"max_position_embeddings", 128},
              {"rms_norm_eps", 1e-5},     {"hidden_act", "silu"}};
}

json opt_base() {
  return json{{"model_type", "opt"},
              {"hidden_size", 256},
              {"num_hidden_layers", 2},
              {"num_attention_heads", 8},
              {"ffn_dim", 1024},
              {"vocab_size", 1000},
              {"max_position_embeddings", 128},
              {"activation_function", "relu"},
              {"word_embed_proj_dim", 256}};
}

TEST(ModelConfig, RefLlama) {
  SP_REQUIRE_SHARED(path, "models/ref-llama/config.json");
  const ModelConfig c = load_model_config(path);
  EXPECT_EQ(c.model_type, "llama");
  EXPECT_EQ(c.family, ArchFamily::Llama);
  EXPECT_EQ(c.hidden, 384);
  EXPECT_EQ(c.n_layers, 8);
  EXPECT_EQ(c.vocab, 32000);
  EXPECT_EQ(c.head_dim, 32);
  EXPECT_EQ(c.max_positions, 1024);
  EXPECT_FLOAT_EQ(c.norm_eps, 1e-5f);
  EXPECT_FLOAT_EQ(c.rope_theta, 10000.f);  // from rope_parameters
  EXPECT_TRUE(c.tie_embeddings);
  EXPECT_FALSE(c.qkv_bias || c.o_bias || c.mlp_bias);
  EXPECT_EQ(c.bos_token_id, 1);
  EXPECT_EQ(c.eos_token_id, 2);
  EXPECT_EQ(c.weight_dtype, DType::BF16);
  EXPECT_EQ(c.hidden_act, "silu");
  EXPECT_EQ(c.sliding_window, 0);
  ASSERT_EQ(c.layers.size(), 8u);
  EXPECT_TRUE(c.uniform());
  EXPECT_EQ(c.layers[3], (LayerShape{12, 4, 1024}));
}

TEST(ModelConfig, RefOpt) {
  SP_REQUIRE_SHARED(path, "models/ref-opt/config.json");
  const ModelConfig c = load_model_config(path);
  EXPECT_EQ(c.family, ArchFamily::Opt);
  EXPECT_EQ(c.hidden, 256);
  EXPECT_EQ(c.n_layers, 8);
  EXPECT_EQ(c.vocab, 50272);
  EXPECT_EQ(c.head_dim, 32);
  EXPECT_EQ(c.layers[0], (LayerShape{8, 8, 1024}));
  EXPECT_TRUE(c.norm_before);
  EXPECT_EQ(c.position_offset, 2);
  EXPECT_TRUE(c.qkv_bias && c.o_bias && c.mlp_bias);
  EXPECT_TRUE(c.tie_embeddings);
  EXPECT_EQ(c.hidden_act, "relu");
  EXPECT_EQ(c.bos_token_id, 50256);
  EXPECT_EQ(c.eos_token_id, 50256);
}

TEST(ModelConfig, Stories260k) {
  SP_REQUIRE_SHARED(path, "models/stories260K-hf/config.json");
  const ModelConfig c = load_model_config(path);
  EXPECT_EQ(c.hidden, 64);
  EXPECT_EQ(c.head_dim, 8);  // hidden / heads, no head_dim field
  EXPECT_EQ(c.layers[4], (LayerShape{8, 4, 172}));
  EXPECT_FLOAT_EQ(c.rope_theta, 10000.f);  // top-level rope_theta
  EXPECT_EQ(c.max_positions, 512);
  EXPECT_TRUE(c.tie_embeddings);
  EXPECT_EQ(c.weight_dtype, DType::F32);  // torch_dtype
}

TEST(ModelConfig, LlamaVariants) {
  json j = llama_base();
  ModelConfig c = parse_model_config(j, kLabel);
  EXPECT_FALSE(c.tie_embeddings);  // llama default
  EXPECT_FLOAT_EQ(c.rope_theta, 10000.f);
  EXPECT_EQ(c.head_dim, 32);
  j["rope_theta"] = 500000.0;
  j["attention_bias"] = true;
  j["mlp_bias"] = true;
  j["head_dim"] = 64;
  j["eos_token_id"] = json::array({128001, 128009});
  j["num_key_value_heads"] = nullptr;  // absent/null -> MHA
  c = parse_model_config(j, kLabel);
  EXPECT_FLOAT_EQ(c.rope_theta, 500000.f);
  EXPECT_TRUE(c.qkv_bias && c.o_bias && c.mlp_bias);
  EXPECT_EQ(c.head_dim, 64);
  EXPECT_EQ(c.eos_token_id, 128001);
  EXPECT_EQ(c.layers[0].n_kv_heads, 8);
  j["rope_parameters"] = {{"rope_theta", 1e6}, {"rope_type", "default"}};
  EXPECT_FLOAT_EQ(parse_model_config(j, kLabel).rope_theta, 1e6f);
}

// Windows as transformers 5 builds them: MistralConfig slides every layer (default 4096, null:
// none); Qwen2Config / Qwen3Config only with use_sliding_window, layers >= max_window_layers
// (default 28) unless layer_types names each layer.
TEST(ModelConfig, MistralAndQwen2) {
  using W = std::vector<int>;
  json j = llama_base();
  j["model_type"] = "mistral";
  j["sliding_window"] = nullptr;
  EXPECT_EQ(parse_model_config(j, kLabel).sliding_window, 0);
  EXPECT_EQ(parse_model_config(j, kLabel).layer_window, (W{0, 0}));
  j["sliding_window"] = 4096;  // longer than max positions: kept, masks nothing there
  EXPECT_EQ(parse_model_config(j, kLabel).layer_window, (W{4096, 4096}));
  j["sliding_window"] = 64;
  EXPECT_EQ(parse_model_config(j, kLabel).sliding_window, 64);
  EXPECT_EQ(parse_model_config(j, kLabel).layer_window, (W{64, 64}));
  j["layer_types"] = {"full_attention", "full_attention"};  // MistralConfig ignores layer_types
  EXPECT_EQ(parse_model_config(j, kLabel).layer_window, (W{64, 64}));
  j.erase("sliding_window");  // transformers default 4096
  EXPECT_EQ(parse_model_config(j, kLabel).sliding_window, 4096);

  json q = llama_base();
  q["model_type"] = "qwen2";
  q["tie_word_embeddings"] = true;
  q["use_sliding_window"] = false;
  q["sliding_window"] = 32;  // ignored while use_sliding_window is false
  ModelConfig c = parse_model_config(q, kLabel);
  EXPECT_TRUE(c.qkv_bias);
  EXPECT_FALSE(c.o_bias);
  EXPECT_FALSE(c.mlp_bias);
  EXPECT_FALSE(c.qk_norm);
  EXPECT_TRUE(c.tie_embeddings);
  EXPECT_EQ(c.sliding_window, 0);
  EXPECT_EQ(c.layer_window, (W{0, 0}));
  q["use_sliding_window"] = true;  // max_window_layers defaults to 28: no layer of 2 slides
  EXPECT_EQ(parse_model_config(q, kLabel).sliding_window, 32);
  EXPECT_EQ(parse_model_config(q, kLabel).layer_window, (W{0, 0}));
  q["max_window_layers"] = 1;
  EXPECT_EQ(parse_model_config(q, kLabel).layer_window, (W{0, 32}));
  q["layer_types"] = {"sliding_attention", "full_attention"};  // wins over max_window_layers
  EXPECT_EQ(parse_model_config(q, kLabel).layer_window, (W{32, 0}));
  q["layer_types"] = {"sliding_attention"};
  expect_reject(q, "layer_types");
  q["layer_types"] = {"sliding_attention", "chunked_attention"};
  expect_reject(q, "layer_types");
  q["layer_types"] = {"sliding_attention", "full_attention"};
  q["use_sliding_window"] = false;  // a sliding layer without a window: transformers cannot mask it
  expect_reject(q, "sliding_window");
  q.erase("layer_types");
  q["use_sliding_window"] = true;
  q["sliding_window"] = nullptr;
  EXPECT_EQ(parse_model_config(q, kLabel).layer_window, (W{0, 0}));
}

TEST(ModelConfig, Qwen3) {
  json q = llama_base();
  q["model_type"] = "qwen3";
  q["head_dim"] = 16;  // apart from hidden / heads (32)
  ModelConfig c = parse_model_config(q, kLabel);
  EXPECT_TRUE(c.qk_norm);
  EXPECT_EQ(c.head_dim, 16);
  EXPECT_FALSE(c.qkv_bias || c.o_bias || c.mlp_bias);  // attention_bias defaults to false
  EXPECT_EQ(c.layer_window, (std::vector<int>{0, 0}));
  q["attention_bias"] = true;
  q["mlp_bias"] = true;  // not a Qwen3 field: its MLP has no biases
  c = parse_model_config(q, kLabel);
  EXPECT_TRUE(c.qkv_bias && c.o_bias);
  EXPECT_FALSE(c.mlp_bias);
  q.erase("head_dim");  // Qwen3Config's default is 128, not hidden / heads
  EXPECT_EQ(parse_model_config(q, kLabel).head_dim, 128);
  q["use_sliding_window"] = true;
  q["sliding_window"] = 8;
  q["max_window_layers"] = 0;
  EXPECT_EQ(parse_model_config(q, kLabel).layer_window, (std::vector<int>{8, 8}));
  // Written back: the stock fields stay, so transformers reads the same windows.
  const json back = model_config_to_json(parse_model_config(q, kLabel));
  EXPECT_EQ(back["model_type"], "qwen3");
  EXPECT_EQ(back["max_window_layers"], 0);
  EXPECT_EQ(back["head_dim"], 128);
}

TEST(ModelConfig, OptVariants) {
  json j = opt_base();
  j["do_layer_norm_before"] = false;  // OPT-350m style post-LN
  j["enable_bias"] = false;
  j["tie_word_embeddings"] = nullptr;
  const ModelConfig c = parse_model_config(j, kLabel);
  EXPECT_FALSE(c.norm_before);
  EXPECT_FALSE(c.qkv_bias || c.o_bias || c.mlp_bias);
  EXPECT_TRUE(c.tie_embeddings);  // OPT default
  EXPECT_EQ(c.layers[1], (LayerShape{8, 8, 1024}));
}

// Phi-3 / Phi-4 (Phi3Config): fused projections, no biases, rms_norm_eps 1e-5 by default, partial
// rotary, LongRoPE whose factor lists must match the rotary dimension.
TEST(ModelConfig, Phi3) {
  json j = llama_base();
  j["model_type"] = "phi3";
  j["attention_bias"] = true;  // not a Phi3Config field: Phi-3 has no biases
  j.erase("rms_norm_eps");
  ModelConfig c = parse_model_config(j, kLabel);
  EXPECT_TRUE(c.fused_projections);
  EXPECT_FALSE(c.qkv_bias || c.o_bias || c.mlp_bias);
  EXPECT_FLOAT_EQ(c.norm_eps, 1e-5f);
  EXPECT_EQ(c.rope_dim(), c.head_dim);
  EXPECT_EQ(c.sliding_window, 0);
  EXPECT_EQ(c.window_of(1), 0);
  j["sliding_window"] = 64;  // every layer slides, as Phi3Config's mask does
  c = parse_model_config(j, kLabel);
  EXPECT_EQ(c.sliding_window, 64);
  EXPECT_EQ(c.window_of(0), 64);
  EXPECT_EQ(c.window_of(1), 64);
  j.erase("sliding_window");
  j["partial_rotary_factor"] = 0.5;
  EXPECT_EQ(parse_model_config(j, kLabel).rope_dim(), c.head_dim / 2);
  j["partial_rotary_factor"] = 1.5;
  expect_reject(j, "partial_rotary_factor");
  j["partial_rotary_factor"] = 0.3;  // int(32 * 0.3) = 9: odd
  expect_reject(j, "partial_rotary_factor");
  j["partial_rotary_factor"] = 0.5;
  const std::vector<double> eight(8, 1.5), seven(7, 1.5);
  j["rope_scaling"] = {{"type", "longrope"}, {"short_factor", eight}, {"long_factor", eight}};
  c = parse_model_config(j, kLabel);
  EXPECT_EQ(c.rope.type, RopeScaling::Type::kLongRope);
  EXPECT_EQ(c.rope.original_max_positions, 4096);  // Phi3Config's default
  j["original_max_position_embeddings"] = 64;
  c = parse_model_config(j, kLabel);
  EXPECT_EQ(c.rope.original_max_positions, 64);
  EXPECT_DOUBLE_EQ(c.rope.factor, 128.0 / 64);  // max_position_embeddings / original
  j["rope_scaling"]["long_factor"] = seven;
  expect_reject(j, "long_factor");
  j["rope_scaling"].erase("long_factor");
  expect_reject(j, "long_factor");
  j["rope_scaling"] = {{"type", "linear"}, {"factor", 2.0}};  // Phi3Config: default or longrope only
  expect_reject(j, "linear");
}

// A head-pruned LongRoPE phi3 goes through the modeling file: stock Phi3Config would check the
// factor lists against hidden_size / num_attention_heads.
TEST(ModelConfig, Phi3LongRopePrunedHeadsUseTheModelingFile) {
  json j = llama_base();  // hidden 256, 8 heads: head_dim 32
  j["model_type"] = "phi3";
  const std::vector<double> sixteen(16, 1.5);
  j["rope_scaling"] = {{"type", "longrope"}, {"short_factor", sixteen}, {"long_factor", sixteen}};
  ModelConfig c = parse_model_config(j, kLabel);
  EXPECT_FALSE(has_per_layer_shapes(c));
  for (LayerShape& s : c.layers) s = {4, 4, s.intermediate};
  EXPECT_TRUE(has_per_layer_shapes(c));
  const ModelConfig back = parse_model_config(model_config_to_json(c), kLabel);
  EXPECT_EQ(back.layers, c.layers);
  EXPECT_EQ(back.head_dim, 32);
  EXPECT_EQ(back.rope.short_factor, c.rope.short_factor);
}

TEST(ModelConfig, Rejections) {
  json j = llama_base();
  j["model_type"] = "gpt_neox";
  expect_reject(j, "model_type");
  try {
    parse_model_config(j, kLabel);
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("llama, mistral, qwen2, qwen3, phi3, opt"), std::string::npos);
  }
  j = llama_base();
  j.erase("model_type");
  expect_reject(j, "model_type");
  j = llama_base();
  j["hidden_act"] = "gelu";
  expect_reject(j, "hidden_act");
  j = llama_base();
  j["rope_scaling"] = {{"type", "linear"}};
  expect_reject(j, "factor");
  j = llama_base();
  j["rope_parameters"] = {{"rope_type", "longrope"}, {"rope_theta", 1e4}};
  expect_reject(j, "longrope");
  j = llama_base();
  j["rope_scaling"] = {{"rope_type", "llama3"}, {"factor", 8.0}, {"low_freq_factor", 1.0}};
  expect_reject(j, "llama3");
  j = llama_base();
  j["rope_scaling"] = {{"rope_type", "llama3"},
                       {"factor", 8.0},
                       {"low_freq_factor", 4.0},
                       {"high_freq_factor", 1.0},
                       {"original_max_position_embeddings", 8192}};
  expect_reject(j, "low_freq_factor");
  j = llama_base();
  j["partial_rotary_factor"] = 0.5;  // transformers' Llama ignores it: only phi3 reads it
  expect_reject(j, "partial_rotary_factor");
  j = llama_base();
  j.erase("intermediate_size");
  expect_reject(j, "intermediate_size");
  j = llama_base();
  j.erase("hidden_size");
  expect_reject(j, "hidden_size");
  j = llama_base();
  j["num_hidden_layers"] = 0;
  expect_reject(j, "num_hidden_layers");
  j = llama_base();
  j["vocab_size"] = -5;
  expect_reject(j, "vocab_size");
  j = llama_base();
  j["hidden_size"] = "256";
  expect_reject(j, "hidden_size");
  j = llama_base();
  j["num_attention_heads"] = 7;
  expect_reject(j, "num_attention_heads");
  j = llama_base();
  j["num_key_value_heads"] = 3;
  expect_reject(j, "num_key_value_heads");
  j = llama_base();
  j["num_key_value_heads"] = 16;  // more KV heads than query heads
  expect_reject(j, "num_key_value_heads");
  j = llama_base();
  j["head_dim"] = 33;  // RoPE needs an even head dimension
  expect_reject(j, "head_dim");
  j = llama_base();
  j["num_attention_heads"] = 0;
  expect_reject(j, "num_attention_heads");
  j = llama_base();
  j["tie_word_embeddings"] = "yes";
  expect_reject(j, "tie_word_embeddings");
  j = llama_base();
  j["model_type"] = "mistral";
  j["sliding_window"] = 0;
  expect_reject(j, "sliding_window");

  j = opt_base();
  j["activation_function"] = "gelu";
  expect_reject(j, "activation_function");
  j = opt_base();
  j["word_embed_proj_dim"] = 128;
  expect_reject(j, "word_embed_proj_dim");
  j = opt_base();
  j["_remove_final_layer_norm"] = true;
  expect_reject(j, "_remove_final_layer_norm");
  j = opt_base();
  j.erase("ffn_dim");
  expect_reject(j, "ffn_dim");
  j = opt_base();
  j["num_attention_heads"] = 6;
  expect_reject(j, "num_attention_heads");

  j = llama_base();
  j["struprune_layers"] =
      json::array({{{"num_attention_heads", 8}, {"num_key_value_heads", 2}, {"intermediate_size", 512}}});
  expect_reject(j, "struprune_layers");  // 1 entry for 2 layers
  j["struprune_layers"].push_back({{"num_attention_heads", 6}, {"num_key_value_heads", 4}, {"intermediate_size", 8}});
  expect_reject(j, "struprune_layers[1]");
}

// Issue 25: every integer size field is bounded (the engine holds sizes in int and multiplies them):
// 2^40 or a negative value is an error naming the file and the field, never a wrapped int.
TEST(ModelConfig, OutOfRangeIntegersNameTheField) {
  const int64_t huge = int64_t(1) << 40;
  for (const char* f : {"hidden_size", "num_hidden_layers", "vocab_size", "max_position_embeddings",
                        "intermediate_size", "num_attention_heads", "num_key_value_heads", "head_dim"}) {
    for (const json& bad : {json(huge), json(-huge), json(-1), json(4294967297.0)}) {
      json j = llama_base();
      j[f] = bad;
      expect_reject(j, f);
    }
  }
  for (const char* f : {"hidden_size", "num_hidden_layers", "vocab_size", "max_position_embeddings", "ffn_dim"}) {
    json j = opt_base();
    j[f] = huge;
    expect_reject(j, f);
  }
  // Just past the stated bound, and the bound itself.
  json j = llama_base();
  j["max_position_embeddings"] = (1 << 24) + 1;
  expect_reject(j, "max_position_embeddings");
  const std::string m = sp::test::input_error([&] { parse_model_config(j, kLabel); });
  EXPECT_NE(m.find("at most 16777216"), std::string::npos) << m;
  j["max_position_embeddings"] = 1 << 24;
  EXPECT_EQ(parse_model_config(j, kLabel).max_positions, 1 << 24);
  j = llama_base();
  j["num_hidden_layers"] = 65537;
  expect_reject(j, "num_hidden_layers");
  // Each field in range, their product (the attention width, an int) not.
  j = llama_base();
  j["num_attention_heads"] = 1 << 16;
  j["num_key_value_heads"] = 1;
  j["head_dim"] = 1 << 10;
  expect_reject(j, "head_dim");
  // A per-layer entry too.
  j = llama_base();
  j["struprune_layers"] =
      json::array({{{"num_attention_heads", 8}, {"num_key_value_heads", 2}, {"intermediate_size", 512}},
                   {{"num_attention_heads", 8}, {"num_key_value_heads", 2}, {"intermediate_size", huge}}});
  expect_reject(j, "intermediate_size");
}

TEST(ModelConfig, LoadErrorsNameTheFile) {
  const std::string dir = ::testing::TempDir() + "/sp_cfg_" + std::to_string(::getpid());
  std::filesystem::create_directories(dir);
  const std::string path = dir + "/config.json";
  { std::ofstream(path) << "{\"model_type\": \"llama\", "; }
  try {
    load_model_config(path);
    ADD_FAILURE();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
  }
  EXPECT_THROW(load_model_config(dir + "/missing.json"), InputError);
  std::filesystem::remove_all(dir);
}

// Attention (or the MLP) pruned away in every layer: the stock fields are 0, which a stock config
// may not hold, so the per-layer list is written and the config reads back (found by reasoning
// about fuzz_model_config's round trip).
TEST(ModelConfig, PartRemovedFromEveryLayerRoundTrips) {
  for (const json& base : {llama_base(), opt_base()}) {
    ModelConfig c = parse_model_config(base, kLabel);
    SCOPED_TRACE(c.model_type);
    for (const LayerShape s : {LayerShape{0, 0, 300}, LayerShape{c.layers[0].n_heads, c.layers[0].n_kv_heads, 0}}) {
      c.layers.assign(2, s);
      const json j = model_config_to_json(c);
      EXPECT_TRUE(j.contains("struprune_layers")) << j.dump();
      const ModelConfig back = parse_model_config(j, kLabel);
      EXPECT_EQ(back.layers, c.layers);
      EXPECT_EQ(back.head_dim, c.head_dim);
    }
  }
  json j = llama_base();
  j["num_attention_heads"] = 0;  // without the per-layer list, still an error
  expect_reject(j, "num_attention_heads");
}

TEST(ModelConfig, PerLayerRoundTrip) {
  ModelConfig c = parse_model_config(llama_base(), kLabel);
  // Uniform pruning: stock fields only, head_dim recorded since heads * head_dim != hidden now.
  c.layers.assign(2, LayerShape{4, 2, 300});
  json u = model_config_to_json(c);
  EXPECT_FALSE(u.contains("struprune_layers"));
  EXPECT_EQ(u["num_attention_heads"], 4);
  EXPECT_EQ(u["num_key_value_heads"], 2);
  EXPECT_EQ(u["intermediate_size"], 300);
  EXPECT_EQ(u["head_dim"], 32);
  EXPECT_EQ(u["hidden_act"], "silu");  // other fields kept
  ModelConfig back = parse_model_config(u, kLabel);
  EXPECT_EQ(back.layers, c.layers);
  EXPECT_EQ(back.head_dim, 32);

  // Non-uniform: struprune_layers, stock fields = per-layer max.
  c.layers = {LayerShape{8, 2, 100}, LayerShape{4, 1, 512}};
  json n = model_config_to_json(c);
  ASSERT_TRUE(n.contains("struprune_layers"));
  EXPECT_EQ(n["struprune_layers"].size(), 2u);
  EXPECT_EQ(n["num_attention_heads"], 8);
  EXPECT_EQ(n["num_key_value_heads"], 2);
  EXPECT_EQ(n["intermediate_size"], 512);
  back = parse_model_config(n, kLabel);
  EXPECT_EQ(back.layers, c.layers);
  EXPECT_FALSE(back.uniform());

  // OPT: ffn_dim, no KV field; head_dim recorded once heads were pruned.
  ModelConfig o = parse_model_config(opt_base(), kLabel);
  o.layers = {LayerShape{6, 6, 700}, LayerShape{8, 8, 1024}};
  json oj = model_config_to_json(o);
  EXPECT_EQ(oj["ffn_dim"], 1024);
  EXPECT_FALSE(oj.contains("num_key_value_heads"));
  EXPECT_FALSE(oj.contains("head_dim"));  // max heads 8 still gives 256 / 8
  back = parse_model_config(oj, kLabel);
  EXPECT_EQ(back.layers, o.layers);
  o.layers = {LayerShape{6, 6, 700}, LayerShape{6, 6, 700}};
  oj = model_config_to_json(o);
  EXPECT_EQ(oj["head_dim"], 32);
  EXPECT_EQ(parse_model_config(oj, kLabel).head_dim, 32);
}

}  // namespace
}  // namespace sp::io
