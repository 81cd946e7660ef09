// Decoder layers come from a checkpoint through the read-ahead thread (model/layer_prefetch.h): in
// order, out of order and again, every tensor equals a direct read of the file (Checkpoint::load on
// the CPU, one tensor at a time); a NaN in layer 1 is an InputError naming the tensor when layer 1
// is asked for and not before, and the layers around it still load. CPU always, CUDA (page-locked
// staging) when visible. Uses the embedded stories260K checkpoint.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <limits>

#include "core/context.h"
#include "io/checkpoint.h"
#include "model/model.h"
#include "model_test_util.h"

namespace sp {
namespace {

namespace fs = std::filesystem;

class Prefetch : public ::testing::TestWithParam<Device> {
 protected:
  void SetUp() override {
    src_ = test::source_dir() + "/examples/stories260K";
    dir_ = fs::temp_directory_path() / ("sp_prefetch_" + std::to_string(::getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string src_;
  fs::path dir_;
};

// Bit-for-bit equality of a layer's tensors with direct reads of `dir`.
void expect_layer_equals_file(const model::Model& m, const model::LayerWeights& w, const std::string& dir, int layer) {
  auto ck = io::Checkpoint::open(dir);
  for (const model::TensorSpec& s : m.layer_specs(layer)) {
    const Tensor want = ck->load(s.name, DType::F32, Device::cpu());
    const Tensor got = w.at(s.role).to(Device::cpu());
    ASSERT_EQ(got.shape(), want.shape()) << s.name;
    EXPECT_EQ(std::memcmp(got.raw(), want.raw(), want.nbytes()), 0) << s.name;
  }
}

TEST_P(Prefetch, LayersInAnyOrderEqualDirectReads) {
  ExecContext ctx(GetParam());
  model::Model m(model::open_checkpoint_source(src_), ctx, Precision::Exact32);
  ASSERT_GE(m.n_layers(), 3);
  for (int l : {0, 1, 2, 0, 2, 1, m.n_layers() - 1, 0}) expect_layer_equals_file(m, m.load_layer(ctx, l), src_, l);
}

TEST_P(Prefetch, ABadValueIsReportedAtItsOwnLayer) {
  // A copy of the checkpoint with a NaN in layer 1's up_proj.
  auto ck = io::Checkpoint::open(src_);
  std::vector<std::pair<std::string, Tensor>> tensors;
  std::string bad;
  for (const std::string& n : ck->names()) {
    Tensor t = ck->load(n, DType::F32, Device::cpu());
    if (n.find("layers.1.mlp.up_proj") != std::string::npos)
      t.data<float>()[3] = std::numeric_limits<float>::quiet_NaN(), bad = n;
    tensors.emplace_back(n, t);
  }
  ASSERT_FALSE(bad.empty());
  io::write_sharded_checkpoint(dir_.string(), tensors, size_t(1) << 30);
  fs::copy_file(src_ + "/config.json", dir_ / "config.json");
  ExecContext ctx(GetParam());
  model::Model m(model::open_checkpoint_source(dir_.string()), ctx, Precision::Exact32);
  expect_layer_equals_file(m, m.load_layer(ctx, 0), dir_.string(), 0);  // layer 1 is read meanwhile
  const std::string e = test::input_error([&] { m.load_layer(ctx, 1); });
  EXPECT_NE(e.find(bad), std::string::npos) << e;
  EXPECT_NE(e.find("non-finite"), std::string::npos) << e;
  expect_layer_equals_file(m, m.load_layer(ctx, 2), dir_.string(), 2);
  EXPECT_NE(test::input_error([&] { m.load_layer(ctx, 1); }).find(bad), std::string::npos);
}

INSTANTIATE_TEST_SUITE_P(Devices, Prefetch, ::testing::ValuesIn(test::model_test_devices()), test::device_param_name);

}  // namespace
}  // namespace sp
