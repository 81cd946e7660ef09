// Broken model folders and bad tensor values: each is an InputError naming the folder or file
// and the tensor. Files are hand-built bytes, independent of the writer.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>

#include "io/checkpoint.h"
#include "io_test_util.h"

namespace sp::io {
namespace {

using test::expect_input_error;
using test::ScratchDir;

template <typename T>
std::vector<uint8_t> raw(std::initializer_list<T> v) {
  std::vector<uint8_t> out(v.size() * sizeof(T));
  std::memcpy(out.data(), std::data(v), out.size());
  return out;
}

// One-tensor safetensors file `name`: dtype, shape and raw bytes.
void write_one(const std::string& path, const std::string& name, const char* dtype, const std::string& shape,
               const std::vector<uint8_t>& data) {
  const std::string h =
      fmt::format(R"({{"{}":{{"dtype":"{}","shape":{},"data_offsets":[0,{}]}}}})", name, dtype, shape, data.size());
  test::write_bytes(path, test::st_bytes(h, data));
}

TEST(CheckpointOpen, MissingFolderOrFiles) {
  ScratchDir d;
  expect_input_error([&] { Checkpoint::open(d / "nope"); }, {d / "nope", "does not exist"});
  expect_input_error([&] { Checkpoint::open(d.str()); }, {d.str(), "model.safetensors"});
}

TEST(CheckpointOpen, IndexNamesTensorItsShardLacks) {
  ScratchDir d;
  write_one(d / "model-00001-of-00002.safetensors", "a.weight", "F32", "[1]", raw<float>({1.f}));
  write_one(d / "model-00002-of-00002.safetensors", "b.weight", "F32", "[1]", raw<float>({2.f}));
  std::ofstream(d / "model.safetensors.index.json")
      << R"({"metadata":{"total_size":8},"weight_map":{"a.weight":"model-00001-of-00002.safetensors",)"
      << R"("b.weight":"model-00001-of-00002.safetensors"}})";
  expect_input_error([&] { Checkpoint::open(d.str()); },
                     {"model.safetensors.index.json", "'b.weight'", "model-00001-of-00002.safetensors"});
}

TEST(CheckpointOpen, IndexPointsToMissingShard) {
  ScratchDir d;
  write_one(d / "model-00001-of-00002.safetensors", "a.weight", "F32", "[1]", raw<float>({1.f}));
  std::ofstream(d / "model.safetensors.index.json")
      << R"({"weight_map":{"a.weight":"model-00001-of-00002.safetensors","b.weight":"model-00002-of-00002.safetensors"}})";
  expect_input_error(
      [&] { Checkpoint::open(d.str()); },
      {"model.safetensors.index.json", "model-00002-of-00002.safetensors", "'b.weight'", "does not exist"});
}

TEST(CheckpointOpen, BadIndex) {
  ScratchDir d;
  std::ofstream(d / "model.safetensors.index.json") << R"({"weight_map": )";
  expect_input_error([&] { Checkpoint::open(d.str()); }, {"model.safetensors.index.json", "JSON"});
  std::ofstream(d / "model.safetensors.index.json") << R"({"metadata": {}})";
  expect_input_error([&] { Checkpoint::open(d.str()); }, {"model.safetensors.index.json", "weight_map"});
  std::ofstream(d / "model.safetensors.index.json") << R"({"weight_map": {"a": 3}})";
  expect_input_error([&] { Checkpoint::open(d.str()); }, {"model.safetensors.index.json", "weight_map['a']"});
}

TEST(CheckpointOpen, CorruptShardNamesTheShard) {
  ScratchDir d;
  test::write_bytes(
      d / "model.safetensors",
      test::st_bytes(R"({"x.weight":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", raw<float>({1})));
  expect_input_error([&] { Checkpoint::open(d.str()); }, {d / "model.safetensors", "'x.weight'"});
}

TEST(CheckpointLoad, ConvertsBetweenFloatTypes) {
  ScratchDir d;
  // f16 bits: 1.0 = 0x3c00, -2.5 = 0xc100, 65504 = 0x7bff, 2^-24 = 0x0001 (smallest subnormal)
  write_one(d / "model.safetensors", "h", "F16", "[4]", raw<uint16_t>({0x3c00, 0xc100, 0x7bff, 0x0001}));
  auto ck = Checkpoint::open(d.str());
  const Tensor f = ck->load("h", DType::F32, Device::cpu(), {4});
  EXPECT_EQ(f.to_f64_vector(), (std::vector<double>{1.0, -2.5, 65504.0, std::ldexp(1.0, -24)}));
  const Tensor b = ck->load("h", DType::BF16, Device::cpu());
  // bf16 of 1, -2.5, 65504 (rounds to 65536 = 0x4780), 2^-24 (0x3380)
  EXPECT_EQ(std::vector<uint16_t>(b.data<uint16_t>(), b.data<uint16_t>() + 4),
            (std::vector<uint16_t>{0x3f80, 0xc020, 0x4780, 0x3380}));
  const Tensor h = ck->load("h", DType::F16, Device::cpu());
  EXPECT_EQ(std::vector<uint16_t>(h.data<uint16_t>(), h.data<uint16_t>() + 4),
            (std::vector<uint16_t>{0x3c00, 0xc100, 0x7bff, 0x0001}));
}

TEST(CheckpointLoad, IntegerTensorsLoadOnlyAsStored) {
  ScratchDir d;
  write_one(d / "model.safetensors", "ids", "I64", "[2]", raw<int64_t>({7, -3}));
  auto ck = Checkpoint::open(d.str());
  const Tensor t = ck->load("ids", DType::I64, Device::cpu());
  EXPECT_EQ(t.data<int64_t>()[1], -3);
  expect_input_error([&] { ck->load("ids", DType::F32, Device::cpu()); }, {"model.safetensors", "'ids'", "I64"});
}

TEST(CheckpointLoad, RejectsNanAndInf) {
  const float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();
  struct Case {
    const char* dtype;
    std::vector<uint8_t> data;
    DType to;
  };
  const Case cases[] = {
      {"F32", raw<float>({1.f, nan}), DType::F32},
      {"F32", raw<float>({-inf, 1.f}), DType::BF16},
      {"BF16", raw<uint16_t>({0x3f80, 0x7f80}), DType::F32},   // +inf
      {"BF16", raw<uint16_t>({0x7fc0, 0x3f80}), DType::BF16},  // nan, same dtype
      {"F16", raw<uint16_t>({0x3c00, 0x7e00}), DType::F32},    // nan
      {"F64", raw<double>({1.0, 1e300}), DType::F32},          // overflows float
  };
  for (const auto& c : cases) {
    ScratchDir d;
    write_one(d / "model.safetensors", "layers.3.w", c.dtype, "[2]", c.data);
    auto ck = Checkpoint::open(d.str());
    SCOPED_TRACE(c.dtype);
    expect_input_error([&] { ck->load("layers.3.w", c.to, Device::cpu()); }, {d / "model.safetensors", "'layers.3.w'"});
  }
}

// A tensor large enough to be converted on several threads: the bits come through unchanged (same
// dtype) or converted (to F32), and the error names the first bad value, whichever chunk holds it.
TEST(CheckpointLoad, LargeTensorsCopyExactlyAndNameTheFirstBadValue) {
  const size_t n = (size_t(3) << 21) + 5;
  std::vector<uint16_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = uint16_t(0x3c00 + (i * 7919) % 0x0800);  // finite bf16 values
  auto bytes = [&] {
    std::vector<uint8_t> b(n * 2);
    std::memcpy(b.data(), v.data(), b.size());
    return b;
  };
  {
    ScratchDir d;
    write_one(d / "model.safetensors", "w", "BF16", fmt::format("[{}]", n), bytes());
    auto ck = Checkpoint::open(d.str());
    const Tensor same = ck->load("w", DType::BF16, Device::cpu());
    EXPECT_EQ(std::memcmp(same.raw(), v.data(), n * 2), 0);
    const Tensor f = ck->load("w", DType::F32, Device::cpu());
    for (size_t i : {size_t(0), size_t(1) << 21, n - 1}) EXPECT_EQ(f.data<float>()[i], bf16_to_f32(v[i])) << i;
  }
  v[n - 2] = 0x7f80;                  // +inf in the last chunk
  v[(size_t(2) << 21) + 3] = 0xffc1;  // NaN in an earlier chunk: the one reported
  for (DType to : {DType::BF16, DType::F32}) {
    ScratchDir d;
    write_one(d / "model.safetensors", "w", "BF16", fmt::format("[{}]", n), bytes());
    auto ck = Checkpoint::open(d.str());
    expect_input_error([&] { ck->load("w", to, Device::cpu()); },
                       {"'w'", "non-finite", fmt::format("flat index {}", (size_t(2) << 21) + 3)});
  }
}

TEST(CheckpointLoad, NamesAndLoad) {
  ScratchDir d;
  const std::string h =
      R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]},)"
      R"("c":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}})";
  test::write_bytes(d / "model.safetensors", test::st_bytes(h, raw<float>({1, 2, 3})));
  auto ck = Checkpoint::open(d.str());
  EXPECT_EQ(ck->names(), (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(ck->load("b", DType::F32, Device::cpu()).data<float>()[0], 2.f);
  expect_input_error([&] { ck->info("zzz"); }, {d.str(), "'zzz'"});
}

// A shard named with an absolute path or '..' is refused before anything is opened: the named
// file here is a valid checkpoint, so only the check stops it from being loaded.
TEST(CheckpointOpen, IndexNamingAFileOutsideTheFolderIsRefused) {
  ScratchDir d;
  std::filesystem::create_directories(d / "model");
  write_one(d / "outside.safetensors", "a.weight", "F32", "[1]", raw<float>({1.f}));
  write_one(d / "model/model-00001-of-00001.safetensors", "b.weight", "F32", "[1]", raw<float>({2.f}));
  for (const std::string& shard : {std::string("../outside.safetensors"), d / "outside.safetensors",
                                   std::string("sub/../../outside.safetensors")}) {
    SCOPED_TRACE(shard);
    std::ofstream(d / "model/model.safetensors.index.json")
        << R"({"weight_map":{"b.weight":"model-00001-of-00001.safetensors","a.weight":")" << shard << R"("}})";
    expect_input_error([&] { Checkpoint::open(d / "model"); },
                       {"model.safetensors.index.json", "'a.weight'", shard, "outside the model folder"});
  }
}

// A value that does not fit the dtype it is loaded as is an error naming the tensor, never an
// undefined cast (F64 -> F32) or a silent Inf (F32 -> F16 / BF16).
TEST(CheckpointLoad, ValuesBeyondTheTargetRangeAreRejected) {
  struct Case {
    const char* dtype;
    std::vector<uint8_t> data;
    DType to;
  };
  const Case cases[] = {
      {"F64", raw<double>({1.0, -1e39}), DType::F32},
      {"F64", raw<double>({1.0, 1e300}), DType::BF16},
      {"F64", raw<double>({1.0, 1e5}), DType::F16},
      {"F32", raw<float>({1.f, 1e5f}), DType::F16},
      {"F32", raw<float>({1.f, std::numeric_limits<float>::max()}), DType::BF16},
  };
  for (const auto& c : cases) {
    ScratchDir d;
    write_one(d / "model.safetensors", "w", c.dtype, "[2]", c.data);
    auto ck = Checkpoint::open(d.str());
    SCOPED_TRACE(std::string(c.dtype) + " -> " + dtype_name(c.to));
    expect_input_error([&] { ck->load("w", c.to, Device::cpu()); },
                       {d / "model.safetensors", "'w'", "flat index 1", "overflows", dtype_name(c.to)});
  }
  // In range: loads (F64 max float -> F32 exactly, 65504 -> F16's largest finite value).
  ScratchDir d;
  write_one(d / "model.safetensors", "w", "F64", "[2]", raw<double>({double(std::numeric_limits<float>::max()), -1.0}));
  EXPECT_EQ(Checkpoint::open(d.str())->load("w", DType::F32, Device::cpu()).data<float>()[0],
            std::numeric_limits<float>::max());
  write_one(d / "model.safetensors", "w", "F64", "[2]", raw<double>({-1.0, 65504.0}));
  EXPECT_EQ(Checkpoint::open(d.str())->load("w", DType::F16, Device::cpu()).data<uint16_t>()[1], 0x7bff);
}

}  // namespace
}  // namespace sp::io
