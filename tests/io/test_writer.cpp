// Writer: exact bytes of a tiny file against the format (as Hugging Face's serializer writes
// it), sharded round trips of a real checkpoint, and atomicity on failure.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <limits>
#include <nlohmann/json.hpp>

#include "io/atomic_file.h"
#include "io/checkpoint.h"
#include "io/safetensors.h"
#include "io_test_util.h"
#include "test_util.h"

namespace sp::io {
namespace {

namespace fs = std::filesystem;
using test::listing;
using test::ScratchDir;

TEST(SafetensorsWrite, ExactBytes) {
  ScratchDir d;
  const std::string path = d / "t.safetensors";
  write_safetensors(path, {{"t", Tensor::from_f32({1.f, 2.f}, {2})}}, {{"format", "pt"}});
  // {"__metadata__":{"format":"pt"},"t":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}} is 85
  // bytes; padded with 3 spaces to 88; then 1.0f and 2.0f little endian.
  const std::string h = R"({"__metadata__":{"format":"pt"},"t":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
  ASSERT_EQ(h.size(), 85u);
  std::string expect(8, '\0');
  expect[0] = char(88);
  expect += h + "   ";
  expect += std::string("\x00\x00\x80\x3f\x00\x00\x00\x40", 8);
  const auto got = test::read_bytes(path);
  EXPECT_EQ(std::string(got.begin(), got.end()), expect);
  EXPECT_EQ(listing(d.str()), (std::vector<std::string>{"t.safetensors"}));
}

TEST(SafetensorsWrite, MixedDtypesStayAligned) {
  ScratchDir d;
  const std::string path = d / "m.safetensors";
  Tensor b = Tensor::empty({3}, DType::BF16);
  for (int i = 0; i < 3; ++i) b.data<uint16_t>()[i] = f32_to_bf16(float(i) + 0.5f);
  Tensor l = Tensor::empty({2}, DType::I64);
  l.data<int64_t>()[0] = -1;
  l.data<int64_t>()[1] = 1LL << 40;
  Tensor u = Tensor::zeros({0, 5}, DType::U8);
  write_safetensors(path, {{"bf", b}, {"u8", u}, {"f32", Tensor::from_f32({3.f}, {1})}, {"i64", l}});
  auto f = SafetensorsFile::open(path);
  for (const auto& e : f->entries()) EXPECT_EQ(e.begin % dtype_size(e.dtype), 0u) << e.name;
  EXPECT_EQ(f->view(*f->find("bf")).to_f32_vector(), (std::vector<float>{0.5f, 1.5f, 2.5f}));
  EXPECT_EQ(f->view(*f->find("i64")).data<int64_t>()[1], 1LL << 40);
  EXPECT_EQ(f->find("u8")->shape, (Shape{0, 5}));
  EXPECT_EQ(f->view(*f->find("f32")).to_f32_vector(), (std::vector<float>{3.f}));
}

// Reads every tensor of a checkpoint as stored.
std::vector<std::pair<std::string, Tensor>> read_all(Checkpoint& ck) {
  std::vector<std::pair<std::string, Tensor>> out;
  for (const auto& n : ck.names()) out.emplace_back(n, ck.load(n, ck.info(n).dtype, Device::cpu()));
  return out;
}

void expect_same_tensors(Checkpoint& a, Checkpoint& b) {
  ASSERT_EQ(a.names(), b.names());
  for (const auto& n : a.names()) {
    const TensorEntry& ea = a.info(n);
    const TensorEntry& eb = b.info(n);
    ASSERT_EQ(ea.dtype, eb.dtype) << n;
    ASSERT_EQ(ea.shape, eb.shape) << n;
    const Tensor ta = a.load(n, ea.dtype, Device::cpu());
    const Tensor tb = b.load(n, eb.dtype, Device::cpu());
    ASSERT_EQ(std::memcmp(ta.raw(), tb.raw(), ta.nbytes()), 0) << n;
  }
}

TEST(ShardedWrite, RoundTripRefLlama) {
  SP_REQUIRE_SHARED(src, "models/ref-llama");
  auto ck = Checkpoint::open(src);
  const auto tensors = read_all(*ck);
  size_t total = 0, largest = 0;
  for (const auto& [n, t] : tensors) {
    total += t.nbytes();
    largest = std::max(largest, t.nbytes());
  }
  EXPECT_EQ(total, 49754880u);  // bf16: 2 bytes x 24,877,440 parameters

  ScratchDir d;
  const size_t limit = 4u << 20;  // 4 MiB: the 24.6 MB embedding gets a shard to itself
  const auto files = write_sharded_checkpoint(d.str(), tensors, limit);
  const auto index = ::sp::test::read_json(d / "model.safetensors.index.json");
  EXPECT_EQ(index["metadata"]["total_size"].get<size_t>(), total);
  EXPECT_EQ(index["weight_map"].size(), tensors.size());
  const size_t n_shards = files.size() - 1;
  ASSERT_GT(n_shards, 3u);
  EXPECT_EQ(fs::path(files[0]).filename().string(), fmt::format("model-00001-of-{:05d}.safetensors", n_shards));
  EXPECT_EQ(listing(d.str()).size(), files.size());  // no temporary left behind
  for (size_t s = 0; s < n_shards; ++s) {
    auto f = SafetensorsFile::open(files[s]);
    size_t bytes = 0;
    for (const auto& e : f->entries()) {
      bytes += e.end - e.begin;
      EXPECT_EQ(index["weight_map"][e.name], fs::path(files[s]).filename().string());
    }
    EXPECT_TRUE(bytes <= limit || f->entries().size() == 1) << files[s];
    EXPECT_EQ(f->metadata().at("format"), "pt");
  }
  auto back = Checkpoint::open(d.str());
  expect_same_tensors(*ck, *back);
}

TEST(ShardedWrite, SingleFileWhenItFits) {
  SP_REQUIRE_SHARED(src, "models/stories260K-hf");
  auto ck = Checkpoint::open(src);
  ScratchDir d;
  const auto files = write_sharded_checkpoint(d / "out/nested", read_all(*ck), size_t(1) << 30);
  ASSERT_EQ(files.size(), 1u);
  EXPECT_EQ(listing(d / "out/nested"), (std::vector<std::string>{"model.safetensors"}));
  auto back = Checkpoint::open(d / "out/nested");
  expect_same_tensors(*ck, *back);
}

TEST(ShardedWrite, RewriteReplacesEarlierLayout) {
  ScratchDir d;
  std::vector<std::pair<std::string, Tensor>> ts;
  for (int i = 0; i < 5; ++i) ts.emplace_back(fmt::format("t{}", i), Tensor::from_f32({float(i), 1.f}, {2}));
  test::write_bytes(d / "tokenizer.json", {'{', '}'});  // not a weight file: kept
  write_sharded_checkpoint(d.str(), ts, 1 << 20);
  EXPECT_EQ(listing(d.str()), (std::vector<std::string>{"model.safetensors", "tokenizer.json"}));
  write_sharded_checkpoint(d.str(), ts, 16);  // 2 tensors per shard
  EXPECT_EQ(
      listing(d.str()),
      (std::vector<std::string>{"model-00001-of-00003.safetensors", "model-00002-of-00003.safetensors",
                                "model-00003-of-00003.safetensors", "model.safetensors.index.json", "tokenizer.json"}));
  write_sharded_checkpoint(d.str(), ts, 8);  // 1 per shard: the of-00003 files go
  EXPECT_EQ(listing(d.str()).size(), 5u + 2u);
  EXPECT_EQ(Checkpoint::open(d.str())->load("t4", DType::F32, Device::cpu()).to_f32_vector(),
            (std::vector<float>{4.f, 1.f}));
  write_sharded_checkpoint(d.str(), ts, 1 << 20);
  EXPECT_EQ(listing(d.str()), (std::vector<std::string>{"model.safetensors", "tokenizer.json"}));
}

// A row range of a stored tensor (a role inside Phi-3's fused qkv_proj), converted from BF16 as the
// whole tensor is; a non-finite value is reported at its flat index in the whole tensor.
TEST(CheckpointRows, RowRangeConvertsLikeTheWholeTensor) {
  ScratchDir d;
  std::vector<float> v;
  for (int i = 0; i < 5 * 3; ++i) v.push_back(0.25f * float(i) - 1.f);  // exact in BF16
  v[13] = std::numeric_limits<float>::infinity();                       // row 4
  Tensor t = Tensor::empty({5, 3}, DType::BF16);
  for (size_t i = 0; i < v.size(); ++i) {  // BF16 is the top half of the float's bits
    uint32_t bits;
    std::memcpy(&bits, &v[i], 4);
    t.data<uint16_t>()[i] = uint16_t(bits >> 16);
  }
  write_sharded_checkpoint(d.str(), {{"qkv", t}}, 1 << 20);
  auto ck = Checkpoint::open(d.str());
  std::vector<float> rows(6);
  ck->load_rows_into("qkv", 1, 2, DType::F32, rows.data(), {5, 3});
  EXPECT_EQ(rows, std::vector<float>(v.begin() + 3, v.begin() + 9));
  ck->load_rows_into("qkv", 3, 0, DType::F32, rows.data());  // no rows: nothing read
  const std::string e = sp::test::input_error([&] { ck->load_rows_into("qkv", 3, 2, DType::F32, rows.data()); });
  EXPECT_NE(e.find("non-finite"), std::string::npos) << e;
  EXPECT_NE(e.find("flat index 13"), std::string::npos) << e;
}

TEST(AtomicWrite, FailureLeavesNoFileUnderFinalName) {
  ScratchDir d;
  // Unwritable destination: its parent is a regular file (chmod does not stop root).
  test::write_bytes(d / "afile", {1});
  test::expect_input_error(
      [&] {
        write_safetensors(d / "afile/x.safetensors", {{"t", Tensor::from_f32({1.f}, {1})}});
      },
      {"afile/x.safetensors"});
  test::expect_input_error(
      [&] {
        write_sharded_checkpoint(d / "afile/ckpt", {{"t", Tensor::from_f32({1.f}, {1})}}, 1 << 20);
      },
      {"afile/ckpt"});

  // The final rename fails (a folder sits under the final name): the temporary is removed.
  fs::create_directories(d / "out/model.safetensors");
  test::expect_input_error(
      [&] {
        write_sharded_checkpoint(d / "out", {{"t", Tensor::from_f32({1.f}, {1})}}, 1 << 20);
      },
      {"model.safetensors"});
  EXPECT_EQ(listing(d / "out"), (std::vector<std::string>{"model.safetensors"}));
  EXPECT_TRUE(fs::is_directory(d / "out/model.safetensors"));

  // A writer abandoned before commit (an exception mid-write) leaves nothing.
  {
    AtomicFile f(d / "partial.json");
    f.write("{\"half");
  }
  EXPECT_FALSE(fs::exists(d / "partial.json"));
  EXPECT_EQ(listing(d.str()), (std::vector<std::string>{"afile", "out"}));
}

TEST(AtomicWrite, ReplacesExistingFile) {
  ScratchDir d;
  write_file_atomic(d / "c.json", "old");
  write_file_atomic(d / "c.json", "new!");
  const auto b = test::read_bytes(d / "c.json");
  EXPECT_EQ(std::string(b.begin(), b.end()), "new!");
  EXPECT_EQ(listing(d.str()), (std::vector<std::string>{"c.json"}));
}

}  // namespace
}  // namespace sp::io
