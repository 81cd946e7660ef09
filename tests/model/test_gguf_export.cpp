// GGUF export (model/gguf_export.h) refusals and tokenizer kinds, on copies of the embedded
// stories260K: every refusal is an InputError naming the key / value, and leaves no file. That
// llama.cpp runs what is exported is checked by tests/interop/gguf_llama_cpp.sh.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "model/gguf_export.h"
#include "test_util.h"

namespace sp::model {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// A copy of examples/stories260K in a fresh folder, with its config.json edited by `edit`.
struct ModelCopy {
  fs::path root, dir, out;
  explicit ModelCopy(const std::function<void(json&)>& edit = {}) {
    static int n = 0;
    root = fs::path(::testing::TempDir()) / ("sp_gguf_" + std::to_string(::getpid()) + "_" + std::to_string(n++));
    fs::remove_all(root);
    dir = root / "model";
    out = root / "out";
    fs::create_directories(out);
    fs::copy(fs::path(test::source_dir()) / "examples/stories260K", dir);
    json c = test::read_json((dir / "config.json").string());
    if (edit) edit(c);
    std::ofstream(dir / "config.json") << c.dump(2);
  }
  ~ModelCopy() { fs::remove_all(root); }
  std::string path() const { return (out / "m.gguf").string(); }
  bool out_empty() const { return fs::is_empty(out); }
  // A byte-level tokenizer.json (two pieces, no merges) with this pre-tokenizer.
  void byte_level_tokenizer(const json& pre) const {
    const json t = {{"model", {{"type", "BPE"}, {"vocab", {{"a", 0}, {"b", 1}}}, {"merges", json::array()}}},
                    {"pre_tokenizer", pre},
                    {"added_tokens", json::array()}};
    std::ofstream(dir / "tokenizer.json") << t.dump();
  }
};

json split_then_byte_level(const std::string& regex) {
  return {{"type", "Sequence"},
          {"pretokenizers",
           {{{"type", "Split"}, {"pattern", {{"Regex", regex}}}, {"behavior", "Isolated"}, {"invert", false}},
            {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true}, {"use_regex", false}}}}};
}

TEST(GgufExport, DenseStoriesIsLlamaWithSentencePieceVocab) {
  ModelCopy m;
  const auto s = export_gguf(m.dir.string(), m.path(), io::GgufTensorType::F16);
  EXPECT_EQ(s.architecture, "llama");
  EXPECT_EQ(s.tokenizer, "llama");
  EXPECT_EQ(s.tensors, 2u + 5u * 9u);  // token_embd, output_norm (tied: no output) + 9 per layer
  EXPECT_TRUE(fs::exists(m.path()));
}

TEST(GgufExport, YarnRopeIsRefusedByName) {
  ModelCopy m([](json& c) {
    c["rope_scaling"] = {{"rope_type", "yarn"}, {"factor", 2.0}, {"original_max_position_embeddings", 256}};
  });
  const std::string e = test::input_error([&] { export_gguf(m.dir.string(), m.path(), io::GgufTensorType::F32); });
  EXPECT_NE(e.find("rope_type 'yarn' is not exported to GGUF"), std::string::npos) << e;
  EXPECT_NE(e.find("config.json"), std::string::npos) << e;
  EXPECT_TRUE(m.out_empty());
}

TEST(GgufExport, Phi3IsRefusedByName) {
  ModelCopy m([](json& c) { c["model_type"] = "phi3"; });
  const std::string e = test::input_error([&] { export_gguf(m.dir.string(), m.path(), io::GgufTensorType::F32); });
  EXPECT_NE(e.find("model_type 'phi3' is not exported to GGUF"), std::string::npos) << e;
  EXPECT_TRUE(m.out_empty());
}

TEST(GgufExport, UnknownPreTokenizerIsRefusedByName) {
  ModelCopy m;
  m.byte_level_tokenizer(split_then_byte_level(R"(\w+|[^\w\s]+)"));
  const std::string e = test::input_error([&] { export_gguf(m.dir.string(), m.path(), io::GgufTensorType::F32); });
  EXPECT_NE(e.find(R"(split pattern '\w+|[^\w\s]+' is not one llama.cpp knows)"), std::string::npos) << e;
  EXPECT_NE(e.find("tokenizer.json"), std::string::npos) << e;
  EXPECT_TRUE(m.out_empty());
}

TEST(GgufExport, KnownByteLevelPreTokenizersAreGpt2) {
  for (
      const json& pre :
      {split_then_byte_level(
           R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)"),
       json{{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", true}}}) {
    ModelCopy m;
    m.byte_level_tokenizer(pre);
    const auto s = export_gguf(m.dir.string(), m.path(), io::GgufTensorType::BF16);
    EXPECT_EQ(s.tokenizer, "gpt2") << pre.dump();
    EXPECT_TRUE(fs::exists(m.path()));
  }
}

TEST(GgufExport, TokenizerLargerThanTheEmbeddingIsRefused) {
  ModelCopy m([](json& c) { c["vocab_size"] = 300; });
  const std::string e = test::input_error([&] { export_gguf(m.dir.string(), m.path(), io::GgufTensorType::F32); });
  EXPECT_NE(e.find("the tokenizer has 512 tokens but config.json vocab_size is 300"), std::string::npos) << e;
  EXPECT_TRUE(m.out_empty());
}

TEST(GgufExport, MissingTensorIsNamedAndLeavesNoFile) {
  // A config with more layers than the checkpoint holds: the first absent tensor is named.
  ModelCopy m([](json& c) { c["num_hidden_layers"] = 6; });
  const std::string e = test::input_error([&] { export_gguf(m.dir.string(), m.path(), io::GgufTensorType::F32); });
  EXPECT_NE(e.find("model.layers.5."), std::string::npos) << e;
  EXPECT_TRUE(m.out_empty());
}

TEST(GgufExport, TensorTypeNames) {
  EXPECT_EQ(gguf_type_from_name("f32"), io::GgufTensorType::F32);
  EXPECT_EQ(gguf_type_from_name("f16"), io::GgufTensorType::F16);
  EXPECT_EQ(gguf_type_from_name("bf16"), io::GgufTensorType::BF16);
  EXPECT_NE(test::input_error([] { gguf_type_from_name("q4_0"); }).find("'q4_0' is not one of f32, f16, bf16"),
            std::string::npos);
}

}  // namespace
}  // namespace sp::model
