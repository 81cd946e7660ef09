// Synthetic weight source and architecture tables at real scale: parameter counts of real configs
// (LLaMA-2-7B, OPT-1.3B: the numbers their model cards publish), determinism per seed, and layer i
// generated alone == layer i generated after the others.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "core/context.h"
#include "core/error.h"
#include "io/model_config.h"
#include "kernels/ops.h"
#include "model/hidden_stream.h"
#include "model/model.h"
#include "model_test_util.h"

namespace sp {
namespace {

// transformers' config.json of meta-llama/Llama-2-7b-hf and facebook/opt-1.3b.
const char* kLlama2_7b = R"({
  "architectures": ["LlamaForCausalLM"], "bos_token_id": 1, "eos_token_id": 2, "hidden_act": "silu",
  "hidden_size": 4096, "initializer_range": 0.02, "intermediate_size": 11008, "max_position_embeddings": 4096,
  "model_type": "llama", "num_attention_heads": 32, "num_hidden_layers": 32, "num_key_value_heads": 32,
  "pretraining_tp": 1, "rms_norm_eps": 1e-05, "rope_scaling": null, "tie_word_embeddings": false,
  "torch_dtype": "float16", "transformers_version": "4.31.0.dev0", "use_cache": true, "vocab_size": 32000})";
const char* kOpt1_3b = R"({
  "_name_or_path": "facebook/opt-1.3b", "activation_dropout": 0.0, "activation_function": "relu",
  "architectures": ["OPTForCausalLM"], "attention_dropout": 0.0, "bos_token_id": 2, "do_layer_norm_before": true,
  "dropout": 0.1, "eos_token_id": 2, "ffn_dim": 8192, "hidden_size": 2048, "init_std": 0.02, "layerdrop": 0.0,
  "max_position_embeddings": 2048, "model_type": "opt", "num_attention_heads": 32, "num_hidden_layers": 24,
  "pad_token_id": 1, "prefix": "</s>", "torch_dtype": "float16", "transformers_version": "4.21.0.dev0",
  "use_cache": true, "vocab_size": 50272, "word_embed_proj_dim": 2048})";

int64_t count_params(const io::ModelConfig& c) {
  const model::Arch& a = model::arch_for(c);
  int64_t n = 0;
  for (const auto& s : a.global_specs(c)) n += shape_numel(s.shape);
  for (int i = 0; i < c.n_layers; ++i)
    for (const auto& s : a.layer_specs(c, i)) n += shape_numel(s.shape);
  return n;
}

TEST(ArchTables, ParameterCountsOfRealConfigs) {
  const auto llama = io::parse_model_config(nlohmann::json::parse(kLlama2_7b), "Llama-2-7b-hf/config.json");
  EXPECT_EQ(count_params(llama), 6738415616);  // Llama-2-7b-hf, as transformers' num_parameters() reports
  const auto opt = io::parse_model_config(nlohmann::json::parse(kOpt1_3b), "opt-1.3b/config.json");
  EXPECT_EQ(count_params(opt), 1315758080);  // facebook/opt-1.3b (lm_head tied)
  const auto l0 = model::arch_for(llama).layer_specs(llama, 0);
  bool saw_gate = false;
  for (const auto& s : l0)
    if (s.role == model::Role::GateWeight) {
      saw_gate = true;
      EXPECT_EQ(s.name, "model.layers.0.mlp.gate_proj.weight");
      EXPECT_EQ(s.shape, (Shape{11008, 4096}));
    }
  EXPECT_TRUE(saw_gate);
}

bool same_bytes(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() && a.dtype() == b.dtype() && std::memcmp(a.raw(), b.raw(), a.nbytes()) == 0;
}

class Synthetic : public ::testing::Test {
 protected:
  void SetUp() override {
    cfg = io::parse_model_config(nlohmann::json::parse(kLlama2_7b), "Llama-2-7b-hf/config.json");
    // Scale the 7B shapes down so the test stays fast; the generator does not care.
    cfg.n_layers = 4;
    cfg.layers.resize(4);
    cfg.hidden = 256;
    cfg.head_dim = 32;
    for (auto& l : cfg.layers) l = {8, 8, 688};
  }
  std::vector<model::TensorSpec> specs(int layer) { return model::arch_for(cfg).layer_specs(cfg, layer); }
  io::ModelConfig cfg;
};

TEST_F(Synthetic, DeterministicPerSeedAndLayerIndependent) {
  auto a = model::make_synthetic_source(cfg, 7);
  auto b = model::make_synthetic_source(cfg, 7);
  auto c = model::make_synthetic_source(cfg, 8);
  EXPECT_TRUE(a->synthetic());
  EXPECT_NE(a->describe().find("SYNTHETIC"), std::string::npos) << a->describe();
  // a generates layers 0..3 in order; b generates only layer 3.
  std::vector<Tensor> seq;
  for (int l = 0; l < 4; ++l)
    for (const auto& s : specs(l)) seq.push_back(a->load(s, DType::F32, Device::cpu()));
  size_t k = seq.size() - specs(3).size();
  for (const auto& s : specs(3)) {
    Tensor alone = b->load(s, DType::F32, Device::cpu());
    EXPECT_TRUE(same_bytes(seq[k++], alone)) << s.name;
    if (s.role == model::Role::QWeight) {
      EXPECT_FALSE(same_bytes(alone, c->load(s, DType::F32, Device::cpu()))) << "seed ignored";
      EXPECT_FALSE(same_bytes(alone, b->load(specs(2)[2], DType::F32, Device::cpu()))) << "name ignored";
    }
  }
}

TEST_F(Synthetic, WeightsAreNormal002NormsOneBiasesZero) {
  auto src = model::make_synthetic_source(cfg, 3);
  for (const auto& s : specs(1)) {
    const auto v = src->load(s, DType::F32, Device::cpu()).to_f64_vector();
    if (model::role_is_norm_weight(s.role)) {
      for (double x : v) ASSERT_EQ(x, 1.0) << s.name;
      continue;
    }
    double mean = 0, sq = 0, fourth = 0;
    for (double x : v) mean += x, sq += x * x, fourth += x * x * x * x;
    mean /= double(v.size());
    const double var = sq / double(v.size()), kurt = fourth / double(v.size()) / (var * var);
    EXPECT_NEAR(mean, 0.0, 0.001) << s.name;
    EXPECT_NEAR(std::sqrt(var), 0.02, 0.0005) << s.name;
    EXPECT_NEAR(kurt, 3.0, 0.1) << s.name << " (normal kurtosis)";
  }
  // Converted on load: bf16 of the same values.
  const auto q = specs(1)[2];
  ExecContext host(Device::cpu());
  Tensor f = src->load(q, DType::F32, Device::cpu());
  EXPECT_TRUE(same_bytes(src->load(q, DType::BF16, Device::cpu()), ops::convert(host, f, DType::BF16)));
}

TEST_F(Synthetic, ModelRunsALayerWithTaps) {
  ExecContext ctx(Device::cpu());
  model::Model m(model::make_synthetic_source(cfg, 11), ctx, Precision::Exact32);
  const int batch = 2, seqlen = 5;
  std::vector<int32_t> ids(size_t(batch * seqlen));
  for (size_t i = 0; i < ids.size(); ++i) ids[i] = int32_t(i * 977 % 32000);
  Tensor pos = model::positions_tensor(ctx, batch, seqlen);
  Tensor h = m.embed(ctx, model::ids_tensor(ctx, ids), pos);
  std::vector<std::pair<std::string, Shape>> seen;
  model::Tap tap = [&](int layer, model::TapPoint at, const Tensor& x) {
    EXPECT_EQ(layer, 2);
    seen.emplace_back(to_string(at), x.shape());
  };
  model::LayerWeights w = m.load_layer(ctx, 2);
  m.forward_layer(ctx, 2, w, h, pos, batch, seqlen, &tap);
  const std::vector<std::pair<std::string, Shape>> want = {{"attn_in", {10, 256}},     {"attn_o_in", {10, 256}},
                                                           {"mid_resid", {10, 256}},   {"mlp_in", {10, 256}},
                                                           {"mlp_down_in", {10, 688}}, {"layer_out", {10, 256}}};
  EXPECT_EQ(seen, want);
  for (double x : h.to_f64_vector()) ASSERT_TRUE(std::isfinite(x));
}

// A stream advanced to the middle of a layer (pruning's pass 2 runs the pruned attention once)
// and then forwarded through the layer ends with the same bits as one forward of the whole layer;
// its taps start after the attention block. LLaMA and OPT (pre- and post-LN), 3 windows in
// batches of 2 (a short last batch).
TEST_F(Synthetic, StreamContinuesFromTheMiddleOfALayer) {
  io::ModelConfig opt = io::parse_model_config(nlohmann::json::parse(kOpt1_3b), "opt-1.3b/config.json");
  opt.n_layers = 2;
  opt.layers.resize(2);
  opt.hidden = 128;
  opt.head_dim = 32;
  for (auto& l : opt.layers) l = {4, 4, 320};
  io::ModelConfig post_ln = opt;
  post_ln.norm_before = false;
  ExecContext ctx(Device::cpu());
  for (const io::ModelConfig* c : {&cfg, &opt, &post_ln}) {
    model::Model m(model::make_synthetic_source(*c, 5), ctx, Precision::Exact32);
    const int nwin = 3, seqlen = 6, layer = 1;
    std::vector<int32_t> ids(size_t(nwin * seqlen));
    for (size_t i = 0; i < ids.size(); ++i) ids[i] = int32_t(i * 131 % 1000);
    model::HiddenStream whole(m, ctx, ids, nwin, seqlen, 2);
    whole.forward(0, m.load_layer(ctx, 0));
    model::HiddenStream halves = whole.clone();
    const model::LayerWeights w = m.load_layer(ctx, layer);
    whole.forward(layer, w);
    std::vector<std::string> seen;
    const model::Tap tap = [&](int, model::TapPoint at, const Tensor&) { seen.emplace_back(to_string(at)); };
    for (int b = 0; b < halves.batches(); ++b) {
      halves.forward_batch(b, layer, w, nullptr, true, model::TapPoint::MidResid);
      EXPECT_THROW(halves.forward_batch(b, layer, w, nullptr, true, model::TapPoint::MidResid), RuntimeFailure);
      EXPECT_THROW(halves.forward_batch(b, layer + 1, w, nullptr, false), RuntimeFailure);
      // statistics: the stream stays halfway
      halves.forward_batch(b, layer, w, &tap, false, model::TapPoint::MlpDownIn);
    }
    EXPECT_EQ(seen, (std::vector<std::string>{"mlp_in", "mlp_down_in", "mlp_in", "mlp_down_in"}));
    EXPECT_THROW(halves.window_nll(), RuntimeFailure);
    halves.forward(layer, w);
    EXPECT_TRUE(same_bytes(halves.rows(0, nwin * seqlen), whole.rows(0, nwin * seqlen)))
        << c->model_type << " norm_before " << c->norm_before;
    EXPECT_EQ(halves.window_nll(), whole.window_nll());
  }
}

// A host-resident stream (a batch uploaded per forward, downloaded when it advances) holds the same
// bits as a device-resident one through whole layers, the middle of a layer, forwards that do not
// advance, clone() and head(), and gives the same NLLs and KL divergences.
TEST_F(Synthetic, HostResidentStreamHoldsTheSameBits) {
  ExecContext ctx(Device::cpu());
  model::Model m(model::make_synthetic_source(cfg, 9), ctx, Precision::Exact32);
  const int nwin = 5, seqlen = 7;
  std::vector<int32_t> ids(size_t(nwin * seqlen));
  for (size_t i = 0; i < ids.size(); ++i) ids[i] = int32_t(i * 37 % 1000);
  model::HiddenStream dev(m, ctx, ids, nwin, seqlen, 2);
  model::HiddenStream host(m, ctx, ids, nwin, seqlen, 2, model::Residence::Host);
  EXPECT_EQ(host.residence(), model::Residence::Host);
  const int64_t rows = nwin * seqlen;
  EXPECT_TRUE(same_bytes(host.rows(0, rows), dev.rows(0, rows))) << "embeddings";
  std::vector<double> seen_dev, seen_host;
  auto tap_into = [](std::vector<double>& v) {
    return model::Tap([&v](int, model::TapPoint at, const Tensor& x) {
      if (at == model::TapPoint::MlpDownIn)
        for (float f : x.to_f32_vector()) v.push_back(f);
    });
  };
  const model::Tap tap_dev = tap_into(seen_dev), tap_host = tap_into(seen_host);
  const model::LayerWeights w0 = m.load_layer(ctx, 0), w1 = m.load_layer(ctx, 1);
  for (model::HiddenStream* s : {&dev, &host}) {
    s->forward(0, w0, s == &dev ? &tap_dev : &tap_host, false);  // statistics only: the stream stays
    s->forward(0, w0);
    for (int b = 0; b < s->batches(); ++b) s->forward_batch(b, 1, w1, nullptr, true, model::TapPoint::MidResid);
  }
  EXPECT_EQ(seen_host, seen_dev);
  EXPECT_TRUE(same_bytes(host.rows(0, rows), dev.rows(0, rows))) << "halfway through layer 1";
  model::HiddenStream host_copy = host.clone();
  for (model::HiddenStream* s : {&dev, &host, &host_copy}) s->forward(1, w1);
  EXPECT_EQ(host_copy.residence(), model::Residence::Host);
  EXPECT_TRUE(same_bytes(host.rows(0, rows), dev.rows(0, rows))) << "after layer 1";
  EXPECT_TRUE(same_bytes(host_copy.rows(0, rows), dev.rows(0, rows))) << "clone";
  EXPECT_EQ(host.window_nll(), dev.window_nll());
  const model::HiddenStream head = host.head(3);
  EXPECT_EQ(head.windows(), 3);
  EXPECT_TRUE(same_bytes(head.rows(0, 3 * seqlen), dev.rows(0, 3 * seqlen))) << "head";
  EXPECT_EQ(host.window_kl({&host_copy})[0], dev.window_kl({&host_copy})[0]);
}

}  // namespace
}  // namespace sp
