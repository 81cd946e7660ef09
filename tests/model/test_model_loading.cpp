// Loading fails loudly, by name: a config that disagrees with the weights (shape, missing bias,
// unexpected tensors), and precisions the CPU backend does not have. Uses stories260K's real
// weights with edited copies of its config.json in a temporary folder.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <functional>

#include "core/context.h"
#include "core/error.h"
#include "model/evaluate.h"
#include "model/model.h"
#include "model_test_util.h"

namespace sp {
namespace {

namespace fs = std::filesystem;

class Loading : public ::testing::Test {
 protected:
  void SetUp() override {
    src_ = test::shared_path("models/stories260K-hf");
    if (src_.empty()) GTEST_SKIP() << "shared models/stories260K-hf not found";
    dir_ = fs::temp_directory_path() / ("sp_model_loading_" + std::to_string(::getpid()));
    fs::create_directories(dir_);
    fs::create_symlink(fs::path(src_) / "model.safetensors", dir_ / "model.safetensors");
  }
  void TearDown() override {
    if (!dir_.empty()) fs::remove_all(dir_);
  }
  // Writes stories260K's config.json with `edit` applied; returns the folder.
  std::string with_config(const std::function<void(nlohmann::json&)>& edit) {
    auto j = test::read_json(src_ + "/config.json");
    edit(j);
    std::ofstream(dir_ / "config.json") << j.dump(2);
    return dir_.string();
  }
  std::string error_of(const std::string& dir, Precision p = Precision::Exact32) {
    try {
      ExecContext ctx(Device::cpu());
      model::Model m(model::open_checkpoint_source(dir), ctx, p);
    } catch (const InputError& e) {
      return e.what();
    }
    return "";
  }
  std::string src_;
  fs::path dir_;
};

TEST_F(Loading, UnchangedConfigLoadsAndUsesEveryTensor) {
  const std::string dir = with_config([](nlohmann::json&) {});
  ExecContext ctx(Device::cpu());
  model::Model m(model::open_checkpoint_source(dir), ctx, Precision::Exact32);
  for (int l = 0; l < m.n_layers(); ++l) m.load_layer(ctx, l);
}

TEST_F(Loading, ShapeMismatchNamesTensorAndShapes) {
  const std::string e = error_of(with_config([](nlohmann::json& j) { j["intermediate_size"] = 100; }));
  EXPECT_NE(e.find("model.layers.0.mlp"), std::string::npos) << e;
  EXPECT_NE(e.find("[172, 64]"), std::string::npos) << e;
  EXPECT_NE(e.find("[100, 64]"), std::string::npos) << e;
}

TEST_F(Loading, MissingBiasNamesTensor) {
  const std::string e = error_of(with_config([](nlohmann::json& j) { j["attention_bias"] = true; }));
  EXPECT_NE(e.find("model.layers.0.self_attn.q_proj.bias"), std::string::npos) << e;
  EXPECT_NE(e.find("missing"), std::string::npos) << e;
}

TEST_F(Loading, UnexpectedTensorsAreListed) {
  // Two layers declared: layers 2..4 of the file are tensors the config does not explain.
  const std::string e = error_of(with_config([](nlohmann::json& j) { j["num_hidden_layers"] = 2; }));
  EXPECT_NE(e.find("model.layers.4.mlp.down_proj.weight"), std::string::npos) << e;
  EXPECT_NE(e.find("not used"), std::string::npos) << e;
}

TEST_F(Loading, CpuRejectsHalfPrecisionWithReason) {
  const std::string e = error_of(with_config([](nlohmann::json&) {}), Precision::BF16);
  EXPECT_NE(e.find("CPU"), std::string::npos) << e;
  EXPECT_NE(e.find("exact32"), std::string::npos) << e;
}

TEST_F(Loading, OutOfVocabularyPromptIsAnInputError) {
  const std::string dir = with_config([](nlohmann::json&) {});
  ExecContext ctx(Device::cpu());
  model::Model m(model::open_checkpoint_source(dir), ctx, Precision::Exact32);
  const std::vector<int32_t> prompt = {1, 512};
  EXPECT_THROW(model::generate_greedy(m, ctx, prompt, 3), InputError);
}

}  // namespace
}  // namespace sp
