// Every malformed safetensors input is an InputError naming the file and, where one is involved,
// the tensor. Inputs are built byte by byte here, independently of the writer.
#include <gtest/gtest.h>
#include <sys/types.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>

#include "io/safetensors.h"
#include "io_test_util.h"
#include "test_util.h"

namespace sp::io {
namespace {

using test::expect_input_error;
using test::st_bytes;

const std::string kFile = "bad.safetensors";

std::vector<uint8_t> f32_bytes(std::initializer_list<float> v) {
  std::vector<uint8_t> out(v.size() * 4);
  std::memcpy(out.data(), std::data(v), out.size());
  return out;
}

std::unique_ptr<SafetensorsFile> parse(const std::vector<uint8_t>& b) {
  return SafetensorsFile::parse(memory_bytes(b, kFile));
}

void expect_bad(const std::string& header, const std::vector<uint8_t>& data, std::vector<std::string> needles,
                int64_t length_field = -1) {
  needles.insert(needles.begin(), kFile);
  expect_input_error([&] { parse(st_bytes(header, data, length_field)); }, needles);
}

TEST(SafetensorsParse, WellFormed) {
  const std::string h =
      R"({"__metadata__":{"format":"pt"},"b":{"dtype":"F32","shape":[2],"data_offsets":[8,16]},)"
      R"("a":{"dtype":"BF16","shape":[2,2],"data_offsets":[0,8]},"e":{"dtype":"I64","shape":[0,3],"data_offsets":[16,16]}})";
  std::vector<uint8_t> data = {0x80, 0x3f, 0x00, 0x40, 0x40, 0x40, 0x80, 0xbf};  // bf16 1, 2, 3, -1
  const auto fb = f32_bytes({0.5f, -4.f});
  data.insert(data.end(), fb.begin(), fb.end());
  // Pad the header like real writers do, so the typed views below are aligned.
  auto f = parse(st_bytes(h + std::string((8 - h.size() % 8) % 8, ' '), data));
  ASSERT_EQ(f->entries().size(), 3u);
  EXPECT_EQ(f->metadata().at("format"), "pt");
  const TensorEntry* a = f->find("a");
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->dtype, DType::BF16);
  EXPECT_EQ(a->shape, (Shape{2, 2}));
  EXPECT_EQ(f->view(*a).to_f32_vector(), (std::vector<float>{1.f, 2.f, 3.f, -1.f}));
  EXPECT_EQ(f->view(*f->find("b")).to_f32_vector(), (std::vector<float>{0.5f, -4.f}));
  EXPECT_EQ(f->find("e")->shape, (Shape{0, 3}));
  EXPECT_EQ(f->find("missing"), nullptr);
}

TEST(SafetensorsParse, TruncatedBeforeLength) {
  expect_input_error([] { parse({1, 2, 3}); }, {kFile, "truncated"});
  expect_input_error([] { parse({}); }, {kFile, "truncated"});
}

TEST(SafetensorsParse, HeaderLengthBeyondFile) {
  expect_bad(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", f32_bytes({1.f}),
             {"header length", "exceeds"}, 1000);
}

TEST(SafetensorsParse, HeaderOver100MB) {
  // A sparse file: the length is within the file but over the 100 MB cap.
  test::ScratchDir dir;
  const std::string path = dir / "huge.safetensors";
  test::write_bytes(path, st_bytes("{}", {}, 100'000'001));
  std::filesystem::resize_file(path, 100'000'100);
  expect_input_error([&] { SafetensorsFile::open(path); }, {path, "100 MB"});
}

TEST(SafetensorsParse, InvalidJson) {
  expect_bad(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]})", f32_bytes({1.f}), {"not valid JSON"});
  expect_bad(R"([1,2,3])", {}, {"JSON object"});
  expect_bad(R"({"a": 5})", {}, {"'a'"});
}

TEST(SafetensorsParse, OverlappingOffsets) {
  expect_bad(
      R"({"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"y":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
      f32_bytes({1, 2, 3}), {"'x'", "'y'", "overlapping"});
}

TEST(SafetensorsParse, WrongDtypeForShape) {
  // F32 [2, 2] needs 16 bytes; the range holds 8 (a BF16 tensor mislabelled F32).
  expect_bad(R"({"w.weight":{"dtype":"F32","shape":[2,2],"data_offsets":[0,8]}})", f32_bytes({1, 2}),
             {"'w.weight'", "[2, 2]", "wrong dtype for the shape"});
}

TEST(SafetensorsParse, OffsetsOutOfRange) {
  expect_bad(R"({"w.weight":{"dtype":"F32","shape":[3],"data_offsets":[0,12]}})", f32_bytes({1, 2}),
             {"'w.weight'", "out of range"});
  expect_bad(R"({"w.weight":{"dtype":"F32","shape":[0],"data_offsets":[8,4]}})", f32_bytes({1, 2}),
             {"'w.weight'", "begin > end"});
  expect_bad(R"({"w.weight":{"dtype":"F32","shape":[1],"data_offsets":[-4,0]}})", f32_bytes({1, 2}),
             {"'w.weight'", "data_offsets"});
}

TEST(SafetensorsParse, UnknownDtype) {
  expect_bad(R"({"w.weight":{"dtype":"F8_E4M3","shape":[4],"data_offsets":[0,4]}})", f32_bytes({1}),
             {"'w.weight'", "F8_E4M3", "unsupported dtype"});
  expect_bad(R"({"w.weight":{"shape":[4],"data_offsets":[0,4]}})", f32_bytes({1}), {"'w.weight'", "dtype"});
}

TEST(SafetensorsParse, BadShapeAndFields) {
  expect_bad(R"({"w.weight":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})", f32_bytes({1}),
             {"'w.weight'", "shape"});
  expect_bad(R"({"w.weight":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}})", f32_bytes({1}),
             {"'w.weight'", "shape"});
  expect_bad(R"({"w.weight":{"dtype":"F32","shape":[1]}})", f32_bytes({1}), {"'w.weight'", "data_offsets"});
  expect_bad(R"({"w.weight":{"dtype":"F32","shape":[1],"data_offsets":[0]}})", f32_bytes({1}),
             {"'w.weight'", "data_offsets"});
  expect_bad(R"({"w.weight":{"dtype":"F32","shape":[4294967296,4294967296,4294967296],"data_offsets":[0,4]}})",
             f32_bytes({1}), {"'w.weight'", "overflows"});
  expect_bad(R"({"__metadata__":{"format":1}})", {}, {"__metadata__", "format"});
}

TEST(SafetensorsParse, TruncatedRealFile) {
  SP_REQUIRE_SHARED(src, "models/stories260K-hf/model.safetensors");
  test::ScratchDir dir;
  const std::string path = dir / "model.safetensors";
  auto bytes = test::read_bytes(src);
  ASSERT_GT(bytes.size(), 100000u);
  bytes.resize(bytes.size() / 2);
  test::write_bytes(path, bytes);
  // Some tensor's range now ends past the data section; whichever it is, it is named.
  expect_input_error([&] { SafetensorsFile::open(path); }, {path, "tensor 'model.", "out of range"});
  bytes.resize(100);  // now even the header is cut
  test::write_bytes(path, bytes);
  expect_input_error([&] { SafetensorsFile::open(path); }, {path, "header length"});
  expect_input_error([&] { SafetensorsFile::open(dir / "absent.safetensors"); }, {"absent.safetensors", "cannot open"});
  expect_input_error([&] { SafetensorsFile::open(dir.str()); }, {dir.str()});
}

}  // namespace
}  // namespace sp::io
