// Streaming checkpoint writer: shards filled greedily with bounded pending memory, the index, the
// bytes read back, nothing under a final name before finish(), nothing left by an abandoned writer,
// and removal of an earlier layout.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <random>

#include "core/device.h"
#include "io/checkpoint.h"
#include "io/checkpoint_stream.h"
#include "io/safetensors.h"
#include "io_test_util.h"
#include "test_util.h"

namespace sp::io {
namespace {

namespace fs = std::filesystem;
using test::listing;
using test::ScratchDir;
using Named = std::vector<std::pair<std::string, Tensor>>;

// A tensor of `dt` with pseudo-random values: finite ones for the float dtypes (Checkpoint::load
// refuses NaN/Inf), any bit pattern for the integer ones.
Tensor random_tensor(Shape shape, DType dt, std::mt19937& rng) {
  Tensor t = Tensor::empty(std::move(shape), dt);
  std::uniform_real_distribution<float> u(-2.f, 2.f);
  const size_t n = size_t(t.numel());
  for (size_t i = 0; i < n; ++i) {
    switch (dt) {
      case DType::F32:
        t.data<float>()[i] = u(rng);
        break;
      case DType::F64:
        t.data<double>()[i] = double(u(rng)) / 3.0;
        break;
      case DType::BF16:
        t.data<uint16_t>()[i] = f32_to_bf16(u(rng));
        break;
      case DType::F16:
        t.data<uint16_t>()[i] = f32_to_f16(u(rng));
        break;
      default:
        for (size_t b = 0; b < dtype_size(dt); ++b) t.data<uint8_t>()[i * dtype_size(dt) + b] = uint8_t(rng());
    }
  }
  return t;
}

// Layer-like tensors of mixed dtypes and sizes, empty ones included.
Named sample_tensors(int layers, std::mt19937& rng) {
  Named ts;
  ts.emplace_back("model.embed_tokens.weight", random_tensor({64, 16}, DType::BF16, rng));  // 2048 bytes
  for (int l = 0; l < layers; ++l) {
    const std::string p = fmt::format("model.layers.{}.", l);
    ts.emplace_back(p + "self_attn.q_proj.weight", random_tensor({16, 16}, DType::BF16, rng));
    ts.emplace_back(p + "self_attn.o_proj.bias", random_tensor({16}, DType::F32, rng));
    ts.emplace_back(p + "mlp.up_proj.weight", random_tensor({int64_t(24 + l), 16}, DType::F16, rng));
    ts.emplace_back(p + "mlp.kept", random_tensor({int64_t(3 + l)}, DType::I64, rng));
    ts.emplace_back(p + "mlp.mask", random_tensor({int64_t(5 * l)}, DType::U8, rng));  // empty for l = 0
    ts.emplace_back(p + "norm.weight", random_tensor({16}, DType::F64, rng));
  }
  ts.emplace_back("lm_head.weight", random_tensor({0, 16}, DType::BF16, rng));
  return ts;
}

// The shard boundaries the documented rule gives: greedy in order, a new shard when the next
// tensor would push a non-empty pending shard past the limit.
std::vector<std::vector<std::string>> expected_shards(const Named& ts, size_t limit) {
  std::vector<std::vector<std::string>> out;
  size_t cur = 0;
  for (const auto& [n, t] : ts) {
    if (out.empty() || (cur > 0 && cur + t.nbytes() > limit)) {
      out.emplace_back();
      cur = 0;
    }
    out.back().push_back(n);
    cur += t.nbytes();
  }
  return out;
}

void expect_round_trip(const std::string& dir, const Named& ts) {
  auto ck = Checkpoint::open(dir);
  ASSERT_EQ(ck->names().size(), ts.size());
  for (const auto& [n, t] : ts) {
    const TensorEntry& e = ck->info(n);
    ASSERT_EQ(e.dtype, t.dtype()) << n;
    ASSERT_EQ(e.shape, t.shape()) << n;
    const Tensor back = ck->load(n, e.dtype, Device::cpu());
    ASSERT_EQ(back.nbytes(), t.nbytes()) << n;
    if (t.nbytes() > 0) {
      EXPECT_EQ(std::memcmp(back.raw(), t.raw(), t.nbytes()), 0) << n;
    }
  }
}

TEST(CheckpointStream, ManyTensorsAcrossShards) {
  std::mt19937 rng(7);
  const Named ts = sample_tensors(12, rng);
  size_t total = 0, largest = 0;
  for (const auto& [n, t] : ts) {
    total += t.nbytes();
    largest = std::max(largest, t.nbytes());
  }
  const size_t limit = 1500;  // the 2048-byte embedding gets a shard of its own
  ASSERT_GT(largest, limit);
  const auto want = expected_shards(ts, limit);
  ASSERT_GT(want.size(), 5u);

  ScratchDir d;
  test::write_bytes(d / "config.json", {'{', '}'});
  CheckpointStreamWriter w(d.str(), limit);
  size_t peak = 0;
  for (const auto& [n, t] : ts) {
    w.add(n, t);
    peak = std::max(peak, w.pending_bytes());
    EXPECT_LE(w.pending_bytes(), std::max(limit, t.nbytes())) << n;  // at most the limit, or one big tensor
    w.wait();  // the shard in flight is on disk
    // Until finish() only temporaries exist: no name a reader would take.
    for (const auto& f : listing(d.str())) EXPECT_TRUE(f == "config.json" || f.ends_with(".safetensors.partial")) << f;
    EXPECT_EQ(listing(d.str()).size(), 1 + w.shards_written());
  }
  EXPECT_LE(peak, limit + largest);
  EXPECT_EQ(w.shards_written(), want.size() - 1);  // the last shard is still pending
  const auto files = w.finish();

  const size_t n = want.size();
  ASSERT_EQ(files.size(), n + 1);
  std::vector<std::string> expect_listing = {"config.json", "model.safetensors.index.json"};
  for (size_t s = 0; s < n; ++s) {
    const std::string fname = fmt::format("model-{:05d}-of-{:05d}.safetensors", s + 1, n);
    EXPECT_EQ(fs::path(files[s]).filename().string(), fname);
    expect_listing.push_back(fname);
    auto f = SafetensorsFile::open(files[s]);
    EXPECT_EQ(f->metadata().at("format"), "pt");
    std::vector<std::string> names;
    size_t bytes = 0;
    for (const auto& e : f->entries()) {
      names.push_back(e.name);
      bytes += e.end - e.begin;
    }
    std::sort(names.begin(), names.end());
    auto expect_names = want[s];
    std::sort(expect_names.begin(), expect_names.end());
    EXPECT_EQ(names, expect_names) << fname;
    EXPECT_TRUE(bytes <= limit || f->entries().size() == 1) << fname;
  }
  EXPECT_EQ(fs::path(files.back()).filename().string(), "model.safetensors.index.json");
  std::sort(expect_listing.begin(), expect_listing.end());
  EXPECT_EQ(listing(d.str()), expect_listing);  // no temporary left

  const auto index = ::sp::test::read_json(d / "model.safetensors.index.json");
  EXPECT_EQ(index["metadata"]["total_size"].get<size_t>(), total);
  ASSERT_EQ(index["weight_map"].size(), ts.size());
  for (size_t s = 0; s < n; ++s)
    for (const auto& name : want[s])
      EXPECT_EQ(index["weight_map"][name], fmt::format("model-{:05d}-of-{:05d}.safetensors", s + 1, n)) << name;
  expect_round_trip(d.str(), ts);
}

TEST(CheckpointStream, OneShardIsModelSafetensors) {
  std::mt19937 rng(1);
  const Named ts = sample_tensors(3, rng);
  ScratchDir d;
  CheckpointStreamWriter w(d / "out/nested", size_t(1) << 20);
  for (const auto& [n, t] : ts) w.add(n, t);
  EXPECT_EQ(w.shards_written(), 0u);
  const auto files = w.finish();
  ASSERT_EQ(files.size(), 1u);
  EXPECT_EQ(files[0], d / "out/nested/model.safetensors");
  EXPECT_EQ(listing(d / "out/nested"), (std::vector<std::string>{"model.safetensors"}));
  expect_round_trip(d / "out/nested", ts);

  // No tensors at all: one empty model.safetensors, as write_sharded_checkpoint always gave.
  CheckpointStreamWriter e(d / "empty", 100);
  EXPECT_EQ(e.finish().size(), 1u);
  EXPECT_EQ(listing(d / "empty"), (std::vector<std::string>{"model.safetensors"}));
  EXPECT_TRUE(SafetensorsFile::open(d / "empty/model.safetensors")->entries().empty());
}

TEST(CheckpointStream, CopiesAtAdd) {
  ScratchDir d;
  Tensor t = Tensor::from_f32({1.f, 2.f}, {2});
  CheckpointStreamWriter w(d.str(), 1 << 20);
  w.add("t", t);
  t.data<float>()[0] = 99.f;  // the caller reuses its buffer
  w.finish();
  EXPECT_EQ(Checkpoint::open(d.str())->load("t", DType::F32, Device::cpu()).to_f32_vector(),
            (std::vector<float>{1.f, 2.f}));
}

TEST(CheckpointStream, GpuTensorsAreCopiedToTheHost) {
  SP_REQUIRE_GPU();
  std::mt19937 rng(3);
  const Named ts = sample_tensors(2, rng);
  ScratchDir d;
  {
    CheckpointStreamWriter w(d.str(), 600);
    for (const auto& [n, t] : ts) w.add(n, t.to(Device::cuda(0)));  // the device copy dies at once
    w.finish();
  }
  expect_round_trip(d.str(), ts);
}

TEST(CheckpointStream, AbandonedWriterLeavesTheFolderAsItWas) {
  std::mt19937 rng(5);
  const Named ts = sample_tensors(6, rng);
  ScratchDir d;
  // An earlier single-file checkpoint and a tokenizer.
  write_sharded_checkpoint(d.str(), {{"old", Tensor::from_f32({4.f}, {1})}}, 1 << 20);
  test::write_bytes(d / "tokenizer.json", {'{', '}'});
  const auto before = listing(d.str());
  const auto old_bytes = test::read_bytes(d / "model.safetensors");
  {
    CheckpointStreamWriter w(d.str(), 700);
    for (const auto& [n, t] : ts) w.add(n, t);
    ASSERT_GT(w.shards_written(), 2u);  // temporaries exist
    EXPECT_GT(listing(d.str()).size(), before.size());
  }  // destroyed without finish(), as when the pipeline throws
  EXPECT_EQ(listing(d.str()), before);
  EXPECT_EQ(test::read_bytes(d / "model.safetensors"), old_bytes);

  // An exception from add() itself, then the unwinding destroys the writer.
  test::expect_input_error(
      [&] {
        CheckpointStreamWriter w(d.str(), 700);
        for (const auto& [n, t] : ts) w.add(n, t);
        w.add(ts[3].first, ts[3].second);
      },
      {d.str(), ts[3].first, "duplicate"});
  EXPECT_EQ(listing(d.str()), before);

  // A folder the writer created goes too.
  { CheckpointStreamWriter w(d / "fresh/ckpt", 700); }
  EXPECT_FALSE(fs::exists(d / "fresh/ckpt"));
}

// A shard's write fails on the background thread (a folder squats on its temporary's name): the call
// that starts the next shard throws that error, naming the file, and the writer's cleanup leaves
// only what was there before it (the squatter had the name of one of its temporaries).
TEST(CheckpointStream, AFailedShardWriteIsThrownByTheNextShard) {
  std::mt19937 rng(3);
  const Named ts = sample_tensors(6, rng);
  ScratchDir d;
  test::write_bytes(d / "config.json", {'{', '}'});
  fs::create_directories(d / ".shard-00002.safetensors.partial/x");
  test::expect_input_error(
      [&] {
        CheckpointStreamWriter w(d.str(), 700);
        for (const auto& [n, t] : ts) w.add(n, t);
        w.finish();
      },
      {".shard-00002.safetensors.partial"});
  EXPECT_EQ(listing(d.str()), std::vector<std::string>{"config.json"});
}

TEST(CheckpointStream, BadNamesAndLimits) {
  ScratchDir d;
  test::expect_input_error([&] { CheckpointStreamWriter w(d / "x", 0); }, {"x", "max shard size"});
  CheckpointStreamWriter w(d.str(), 100);
  test::expect_input_error([&] { w.add("__metadata__", Tensor::from_f32({1.f}, {1})); }, {d.str(), "__metadata__"});
  test::expect_input_error([&] { w.add("", Tensor::from_f32({1.f}, {1})); }, {d.str(), "empty"});
  test::expect_input_error([&] { w.add("u", Tensor()); }, {d.str(), "'u'", "undefined"});
}

TEST(CheckpointStream, EarlierLayoutsAreRemoved) {
  ScratchDir d;
  Named ts;
  for (int i = 0; i < 6; ++i) ts.emplace_back(fmt::format("t{}", i), Tensor::from_f32({float(i), 1.f}, {2}));
  test::write_bytes(d / "tokenizer.json", {'{', '}'});
  write_sharded_checkpoint(d.str(), ts, 8);  // six shards of one tensor each
  ASSERT_EQ(listing(d.str()).size(), 6u + 2u);
  test::write_bytes(d / ".shard-00009.safetensors.partial", {0});  // left by a killed writer

  auto stream = [&](size_t limit) {
    CheckpointStreamWriter w(d.str(), limit);
    for (const auto& [n, t] : ts) w.add(n, t);
    return w.finish();
  };
  EXPECT_EQ(stream(24).size(), 2u + 1u);  // three tensors per shard
  EXPECT_EQ(listing(d.str()),
            (std::vector<std::string>{"model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors",
                                      "model.safetensors.index.json", "tokenizer.json"}));
  expect_round_trip(d.str(), ts);

  EXPECT_EQ(stream(1 << 20).size(), 1u);
  EXPECT_EQ(listing(d.str()), (std::vector<std::string>{"model.safetensors", "tokenizer.json"}));
  expect_round_trip(d.str(), ts);

  // Same shard count as the layout before: every name is reused, the index is rewritten.
  stream(24);
  stream(24);
  EXPECT_EQ(listing(d.str()).size(), 4u);
  expect_round_trip(d.str(), ts);
}

// A rewrite of a sharded folder that fails half-way through its renames (here: a folder squats on
// the second shard's name) leaves no index at all: neither the old one, which would name shards
// already replaced, nor a new one naming shards that are not there. Nothing loads; nothing mixes.
TEST(CheckpointStream, FailedRewriteLeavesNoIndexOverMixedShards) {
  ScratchDir d;
  Named old_ts, new_ts;
  for (int i = 0; i < 4; ++i) {
    old_ts.emplace_back(fmt::format("t{}", i), Tensor::from_f32({float(i), 1.f}, {2}));
    new_ts.emplace_back(fmt::format("t{}", i), Tensor::from_f32({float(10 + i), 2.f}, {2}));
  }
  write_sharded_checkpoint(d.str(), old_ts, 16);  // two shards of two tensors
  ASSERT_TRUE(fs::exists(d / "model.safetensors.index.json"));
  const std::string blocker = d / "model-00003-of-00004.safetensors";
  fs::create_directories(blocker + "/x");  // a non-empty folder: renaming a file over it fails
  test::expect_input_error([&] { write_sharded_checkpoint(d.str(), new_ts, 8); },
                           {"model-00003-of-00004.safetensors", "rename"});
  EXPECT_FALSE(fs::exists(d / "model.safetensors.index.json"));
  EXPECT_FALSE(fs::exists(d / "model.safetensors"));
  for (const auto& f : listing(d.str())) EXPECT_EQ(f.find(".partial"), std::string::npos) << f;
  test::expect_input_error([&] { Checkpoint::open(d.str()); }, {d.str(), "model.safetensors"});
  // Once the obstacle is gone the same rewrite completes and reads back whole.
  fs::remove_all(blocker);
  write_sharded_checkpoint(d.str(), new_ts, 8);
  expect_round_trip(d.str(), new_ts);
}

}  // namespace
}  // namespace sp::io
