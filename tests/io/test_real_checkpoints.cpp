// The shared reference models open and load; parameter counts and sample values are checked
// against numbers computed independently (reference.json from the training script, values
// decoded from the raw bytes with Python's struct module).
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "io/checkpoint.h"
#include "io/model_config.h"
#include "test_util.h"

namespace sp::io {
namespace {

int64_t total_numel(const Checkpoint& ck) {
  int64_t n = 0;
  for (const auto& name : ck.names()) n += shape_numel(ck.info(name).shape);
  return n;
}

double abs_sum(const Tensor& t) {
  double s = 0;
  for (double v : t.to_f64_vector()) s += std::fabs(v);
  return s;
}

TEST(RealCheckpoint, RefLlamaShardedBf16) {
  SP_REQUIRE_SHARED(dir, "models/ref-llama");
  SP_REQUIRE_SHARED(ref_path, "models/ref-llama/reference.json");
  const auto ref = test::read_json(ref_path);
  auto ck = Checkpoint::open(dir);
  // Tied embeddings: the file stores no lm_head, so the tensors sum to the model's parameters.
  EXPECT_FALSE(ck->has("lm_head.weight"));
  EXPECT_EQ(total_numel(*ck), ref["training"]["params"].get<int64_t>());
  EXPECT_EQ(total_numel(*ck), 24877440);
  EXPECT_EQ(ck->names().size(), 2u + 8u * 9u);
  EXPECT_EQ(ck->info("model.layers.0.self_attn.k_proj.weight").dtype, DType::BF16);

  const Tensor emb = ck->load("model.embed_tokens.weight", DType::F32, Device::cpu(), {32000, 384});
  ASSERT_EQ(emb.dtype(), DType::F32);
  const float* e = emb.data<float>();
  EXPECT_EQ(e[0], -0.0262451171875f);
  EXPECT_EQ(e[1], -0.06201171875f);
  EXPECT_EQ(e[2], 0.1064453125f);
  EXPECT_EQ(e[3], -0.08056640625f);
  EXPECT_EQ(e[32000 * 384 - 1], 0.12158203125f);
  EXPECT_TRUE(ck->file_of("model.embed_tokens.weight").ends_with("model-00001-of-00003.safetensors"));

  const Tensor down = ck->load("model.layers.7.mlp.down_proj.weight", DType::BF16, Device::cpu(), {384, 1024});
  EXPECT_EQ(down.dtype(), DType::BF16);
  EXPECT_NEAR(abs_sum(down), 11331.346573035233, 1e-6);
  const Tensor down64 = ck->load("model.layers.7.mlp.down_proj.weight", DType::F64, Device::cpu());
  EXPECT_NEAR(abs_sum(down64), 11331.346573035233, 1e-6);
}

TEST(RealCheckpoint, RefOptShardedBf16) {
  SP_REQUIRE_SHARED(dir, "models/ref-opt");
  SP_REQUIRE_SHARED(ref_path, "models/ref-opt/reference.json");
  const auto ref = test::read_json(ref_path);
  auto ck = Checkpoint::open(dir);
  EXPECT_EQ(total_numel(*ck), ref["training"]["params"].get<int64_t>());
  EXPECT_EQ(total_numel(*ck), 19450880);
  // Learned positions carry the OPT offset of 2 rows.
  EXPECT_EQ(ck->info("model.decoder.embed_positions.weight").shape, (Shape{1024 + 2, 256}));
  const Tensor pos = ck->load("model.decoder.embed_positions.weight", DType::F32, Device::cpu());
  EXPECT_NEAR(abs_sum(pos), 3786.7448972398415, 1e-6);
  EXPECT_EQ(pos.data<float>()[512], -0.042724609375f);
  EXPECT_EQ(pos.data<float>()[514], -0.036865234375f);
}

TEST(RealCheckpoint, Stories260kSingleFileF32) {
  SP_REQUIRE_SHARED(dir, "models/stories260K-hf");
  auto ck = Checkpoint::open(dir);
  const ModelConfig c = load_model_config(dir + "/config.json");
  // Parameter count from the architecture alone (tied embeddings, no biases).
  const int64_t d = c.hidden, f = c.layers[0].intermediate, kvd = int64_t(c.layers[0].n_kv_heads) * c.head_dim;
  const int64_t expect = int64_t(c.vocab) * d + c.n_layers * (2 * d * d + 2 * kvd * d + 3 * d * f + 2 * d) + d;
  EXPECT_EQ(total_numel(*ck), expect);
  EXPECT_EQ(total_numel(*ck), 260032);
  const Tensor q = ck->load("model.layers.0.self_attn.q_proj.weight", DType::F32, Device::cpu(), {64, 64});
  EXPECT_EQ(q.data<float>()[0], 0.04439278692007065f);
  EXPECT_EQ(q.data<float>()[2], -0.008925346657633781f);
  EXPECT_NEAR(abs_sum(q), 663.9625387442502, 1e-4);
  // fp32 -> bf16 on load rounds to nearest even.
  const Tensor qb = ck->load("model.layers.0.self_attn.q_proj.weight", DType::BF16, Device::cpu());
  EXPECT_EQ(qb.data<uint16_t>()[0], f32_to_bf16(0.04439278692007065f));
}

TEST(RealCheckpoint, ShapeMismatchNamesTensorFileAndShapes) {
  SP_REQUIRE_SHARED(dir, "models/stories260K-hf");
  auto ck = Checkpoint::open(dir);
  try {
    ck->load("model.layers.0.self_attn.k_proj.weight", DType::F32, Device::cpu(), {64, 64});
    FAIL() << "expected InputError";
  } catch (const InputError& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("model.layers.0.self_attn.k_proj.weight"), std::string::npos) << m;
    EXPECT_NE(m.find("model.safetensors"), std::string::npos) << m;
    EXPECT_NE(m.find("[64, 64]"), std::string::npos) << m;
    EXPECT_NE(m.find("[32, 64]"), std::string::npos) << m;
  }
  EXPECT_THROW(ck->load("no.such.tensor", DType::F32, Device::cpu()), InputError);
}

}  // namespace
}  // namespace sp::io
