// Per-layer (pruned) shapes end to end: a compact checkpoint (KV groups, whole attention blocks
// and MLP neurons physically removed, shapes recorded in config.json "struprune_layers") must
// compute what the masked dense model computes. The identity is exact math: removing a head /
// neuron equals zeroing its o_proj / down_proj columns. Built from stories260K's real weights.
#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <set>

#include "core/context.h"
#include "io/checkpoint.h"
#include "io/model_config.h"
#include "model/evaluate.h"
#include "model/model.h"
#include "model_test_util.h"

namespace sp {
namespace {

namespace fs = std::filesystem;

// Rows (dim 0) or columns (dim 1) of a host F32 matrix, in the order given.
Tensor take(const Tensor& t, const std::vector<int64_t>& idx, int dim) {
  const int64_t r = t.dim(0), c = t.dim(1);
  Tensor out = Tensor::empty(dim == 0 ? Shape{int64_t(idx.size()), c} : Shape{r, int64_t(idx.size())}, DType::F32);
  for (size_t k = 0; k < idx.size(); ++k)
    if (dim == 0)
      for (int64_t j = 0; j < c; ++j) out.data<float>()[int64_t(k) * c + j] = t.data<float>()[idx[k] * c + j];
    else
      for (int64_t i = 0; i < r; ++i)
        out.data<float>()[i * int64_t(idx.size()) + int64_t(k)] = t.data<float>()[i * c + idx[k]];
  return out;
}

void zero_cols(Tensor& t, const std::vector<int64_t>& cols) {
  for (int64_t i = 0; i < t.dim(0); ++i)
    for (int64_t c : cols) t.data<float>()[i * t.dim(1) + c] = 0.f;
}

// Channels [u*width, (u+1)*width) of the units u in `units`.
std::vector<int64_t> channels(const std::vector<int>& units, int width) {
  std::vector<int64_t> out;
  for (int u : units)
    for (int i = 0; i < width; ++i) out.push_back(int64_t(u) * width + i);
  return out;
}

class PrunedShapes : public ::testing::TestWithParam<Device> {};

TEST_P(PrunedShapes, CompactEqualsMaskedDense) {
  SP_REQUIRE_SHARED(src, "models/stories260K-hf");
  const fs::path work = fs::temp_directory_path() /
                        ("sp_pruned_shapes_" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) + "_" +
                         (GetParam().is_cpu() ? "cpu" : "gpu"));
  fs::remove_all(work);
  auto ck = io::Checkpoint::open(src);
  const io::ModelConfig dense_cfg = io::load_model_config(src + "/config.json");
  const int hd = dense_cfg.head_dim, group = dense_cfg.layers[0].n_heads / dense_cfg.layers[0].n_kv_heads;
  // Kept KV groups and MLP neurons per layer (stories260K: 4 KV groups of 2 heads, 172 neurons).
  const std::vector<std::vector<int>> keep_kv = {{0, 2}, {}, {0, 1, 2, 3}, {3}, {0, 1, 2, 3}};
  std::vector<std::vector<int>> keep_ff(5);
  for (int l = 0; l < 5; ++l)
    for (int n = 0; n < 172; ++n)
      if (l == 4 || (l == 2 && n % 3 != 0) || (l == 1 && n % 2 == 0) || (l == 0 && n < 100))
        keep_ff[size_t(l)].push_back(n);
  // layer 3 keeps no neuron at all; layer 1 no attention head.

  std::map<std::string, Tensor> dense;
  for (const auto& n : ck->names()) dense[n] = ck->load(n, DType::F32, Device::cpu());
  std::vector<std::pair<std::string, Tensor>> compact_t, masked_t;
  io::ModelConfig compact_cfg = dense_cfg;
  for (const auto& [name, t] : dense) {
    if (name.rfind("model.layers.", 0) != 0) {
      compact_t.emplace_back(name, t);
      masked_t.emplace_back(name, t.clone());
      continue;
    }
    const int l = std::stoi(name.substr(13));
    std::vector<int> heads;
    for (int g : keep_kv[size_t(l)])
      for (int i = 0; i < group; ++i) heads.push_back(g * group + i);
    std::vector<int64_t> ff(keep_ff[size_t(l)].begin(), keep_ff[size_t(l)].end());
    std::vector<int> all_heads(8), all_ff(172);
    for (int i = 0; i < 8; ++i) all_heads[size_t(i)] = i;
    std::vector<int64_t> drop_heads, drop_ff;
    for (int64_t c : channels(all_heads, hd))
      if (std::find(heads.begin(), heads.end(), int(c / hd)) == heads.end()) drop_heads.push_back(c);
    for (int64_t n = 0; n < 172; ++n)
      if (std::find(ff.begin(), ff.end(), n) == ff.end()) drop_ff.push_back(n);
    Tensor m = t.clone();
    if (name.find("o_proj") != std::string::npos) zero_cols(m, drop_heads);
    if (name.find("down_proj") != std::string::npos) zero_cols(m, drop_ff);
    masked_t.emplace_back(name, m);
    Tensor c;
    if (name.find("q_proj") != std::string::npos)
      c = take(t, channels(heads, hd), 0);
    else if (name.find("k_proj") != std::string::npos || name.find("v_proj") != std::string::npos)
      c = take(t, channels(keep_kv[size_t(l)], hd), 0);
    else if (name.find("o_proj") != std::string::npos)
      c = take(t, channels(heads, hd), 1);
    else if (name.find("gate_proj") != std::string::npos || name.find("up_proj") != std::string::npos)
      c = take(t, ff, 0);
    else if (name.find("down_proj") != std::string::npos)
      c = take(t, ff, 1);
    else
      c = t;
    if (c.numel() > 0) compact_t.emplace_back(name, c);  // a fully removed block has no matrices
    compact_cfg.layers[size_t(l)] = {int(heads.size()), int(keep_kv[size_t(l)].size()), int(ff.size())};
  }
  io::write_sharded_checkpoint((work / "compact").string(), compact_t, size_t(1) << 19);  // several shards
  io::save_model_config(compact_cfg, (work / "compact" / "config.json").string());
  io::write_sharded_checkpoint((work / "masked").string(), masked_t, size_t(1) << 30);
  io::save_model_config(dense_cfg, (work / "masked" / "config.json").string());

  ExecContext ctx(GetParam());
  model::Model compact(model::open_checkpoint_source((work / "compact").string()), ctx, Precision::Exact32);
  EXPECT_EQ(compact.config().layers[1].n_heads, 0);
  EXPECT_EQ(compact.config().layers[3].intermediate, 0);
  EXPECT_EQ(compact.config().layers[0], (io::LayerShape{4, 2, 100}));
  model::Model masked(model::open_checkpoint_source((work / "masked").string()), ctx, Precision::Exact32);
  model::Model original(model::open_checkpoint_source(src), ctx, Precision::Exact32);

  std::vector<int32_t> ids = {1};
  for (int32_t t : model::generate_greedy(original, ctx, ids, 63)) ids.push_back(t);  // a natural 64-token window
  const auto a = model::perplexity(compact, ctx, ids, 64, 1).first_window_nll;
  const auto b = model::perplexity(masked, ctx, ids, 64, 1).first_window_nll;
  const auto o = model::perplexity(original, ctx, ids, 64, 1).first_window_nll;
  const std::vector<double> bd(b.begin(), b.end()), od(o.begin(), o.end());
  const double diff = test::max_abs_diff(a, bd), effect = test::max_abs_diff(a, od);
  std::printf("  compact vs masked dense: max abs NLL diff %.3g (vs unpruned: %.3g)\n", diff, effect);
  EXPECT_LT(diff, 1e-4);
  // Inference's zero padding of the MLP widths (100 -> 128 neurons) changes nothing but the shapes.
  model::Model padded(model::open_checkpoint_source((work / "compact").string()), ctx, Precision::Exact32);
  padded.pad_mlp_widths(64);
  const model::LayerWeights w0 = padded.load_layer(ctx, 0);
  EXPECT_EQ(w0.shape.intermediate, 128);
  EXPECT_EQ(w0.down_w.dim(1), 128);
  EXPECT_EQ(padded.load_layer(ctx, 3).shape.intermediate, 0);  // a removed MLP stays removed
  const auto p = model::perplexity(padded, ctx, ids, 64, 1).first_window_nll;
  const double pad_diff = test::max_abs_diff(p, bd);
  std::printf("  padded compact vs masked dense: max abs NLL diff %.3g\n", pad_diff);
  EXPECT_LT(pad_diff, 1e-4);
  EXPECT_GT(effect, 1e-2) << "pruning had no effect: the test would not notice a wrong layer";
  fs::remove_all(work);
}

INSTANTIATE_TEST_SUITE_P(Devices, PrunedShapes, ::testing::ValuesIn(test::model_test_devices()),
                         test::device_param_name);

}  // namespace
}  // namespace sp
