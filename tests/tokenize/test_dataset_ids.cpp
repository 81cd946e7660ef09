// Pre-tokenized ids: .npy headers built here byte by byte from the format spec (numpy.lib.format:
// magic, version, little-endian header length, the dict literal padded with spaces and '\n' to a
// multiple of 64 bytes), and raw .bin files; the reader must return exactly the ids written.
#include <gtest/gtest.h>

#include "test_util.h"

#include <cstring>
#include <fmt/format.h>

#include <filesystem>
#include <fstream>

#include <unistd.h>

#include "core/error.h"
#include "io/byte_source.h"
#include "test_sampling_fakes.h"
#include "tokenize/dataset.h"
#include "tokenize/npy.h"

namespace sp::data {
namespace {

namespace fs = std::filesystem;

std::string temp_path(const std::string& name) {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  return (fs::temp_directory_path() / fmt::format("sp_ids_{}_{}_{}", info->name(), ::getpid(), name)).string();
}

void write_file(const std::string& p, const std::string& bytes) {
  std::ofstream(p, std::ios::binary).write(bytes.data(), std::streamsize(bytes.size()));
}

std::string read_file(const std::string& p) {
  std::ifstream f(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

// Version 1.0 header exactly as numpy.save writes it.
std::string npy_v1(const std::string& dict_body) {
  std::string dict = dict_body;
  while ((10 + dict.size() + 1) % 64 != 0) dict.push_back(' ');
  dict.push_back('\n');
  std::string out("\x93NUMPY\x01\x00", 8);
  out.push_back(char(dict.size() & 0xFF));
  out.push_back(char(dict.size() >> 8));
  return out + dict;
}

template <typename T>
std::string le_bytes(const std::vector<int64_t>& values) {
  std::string out;
  for (int64_t v : values) {
    const T t = static_cast<T>(v);
    for (size_t k = 0; k < sizeof(T); ++k) out.push_back(char((static_cast<uint64_t>(t) >> (8 * k)) & 0xFF));
  }
  return out;
}

const std::vector<int64_t> kIds = {1, 0, 65535, 300, 7, 31999};

TEST(DataNpy, ReadsEverySupportedDtype) {
  struct Case {
    const char* descr;
    std::string data;
  };
  const std::vector<Case> cases = {{"<u2", le_bytes<uint16_t>(kIds)},
                                   {"<u4", le_bytes<uint32_t>(kIds)},
                                   {"<i4", le_bytes<int32_t>(kIds)},
                                   {"<i8", le_bytes<int64_t>(kIds)}};
  for (const Case& c : cases) {
    const std::string p = temp_path(std::string("ids_") + (c.descr + 1) + ".npy");
    write_file(p, npy_v1(fmt::format("{{'descr': '{}', 'fortran_order': False, 'shape': ({},), }}", c.descr,
                                     kIds.size())) + c.data);
    const IdsFile f = IdsFile::open(p, IdsDtype::U16);
    ASSERT_EQ(f.size(), int64_t(kIds.size())) << c.descr;
    const std::vector<int32_t> got = f.read(0, f.size());
    EXPECT_EQ(std::vector<int64_t>(got.begin(), got.end()), kIds) << c.descr;
    EXPECT_EQ(f.read(2, 2), (std::vector<int32_t>{65535, 300})) << c.descr;
    fs::remove(p);
  }
}

TEST(DataNpy, WriterMatchesTheSpecBytes) {
  const std::vector<int32_t> ids(kIds.begin(), kIds.end());
  const std::string p = temp_path("w.npy");
  write_npy_ids(p, ids, IdsDtype::U16);
  const std::string want =
      npy_v1("{'descr': '<u2', 'fortran_order': False, 'shape': (6,), }") + le_bytes<uint16_t>(kIds);
  EXPECT_EQ(read_file(p), want);
  EXPECT_EQ(IdsFile::open(p, IdsDtype::U32).read(0, 6), ids);
  EXPECT_NE(sp::test::input_error([&] { write_npy_ids(p, std::vector<int32_t>{70000}, IdsDtype::U16); }).find("does not fit u16"),
            std::string::npos);
  fs::remove(p);
}

TEST(DataNpy, Version2HeaderAndPython2Longs) {
  std::string dict = "{'descr': '<i4', 'fortran_order': False, 'shape': (3L,), }";
  while ((12 + dict.size() + 1) % 64 != 0) dict.push_back(' ');
  dict.push_back('\n');
  std::string bytes("\x93NUMPY\x02\x00", 8);
  for (int k = 0; k < 4; ++k) bytes.push_back(char((dict.size() >> (8 * k)) & 0xFF));
  bytes += dict + le_bytes<int32_t>({5, 6, 7});
  const IdsFile f(io::memory_bytes(std::vector<uint8_t>(bytes.begin(), bytes.end()), "mem.npy"), IdsDtype::U16, true);
  EXPECT_EQ(f.read(0, 3), (std::vector<int32_t>{5, 6, 7}));
}

TEST(DataNpy, UnsupportedHeadersNameTheFileAndField) {
  const auto err = [](const std::string& dict, const std::string& data) {
    const std::string bytes = npy_v1(dict) + data;
    return sp::test::input_error([&] {
      IdsFile(io::memory_bytes(std::vector<uint8_t>(bytes.begin(), bytes.end()), "x.npy"), IdsDtype::U16, true);
    });
  };
  const std::string four = le_bytes<uint16_t>({1, 2, 3, 4});
  EXPECT_NE(err("{'descr': '>u2', 'fortran_order': False, 'shape': (4,), }", four).find("x.npy: .npy descr '>u2'"),
            std::string::npos);
  EXPECT_NE(err("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", four).find("'<f4'"), std::string::npos);
  EXPECT_NE(err("{'descr': '<u2', 'fortran_order': False, 'shape': (2, 2), }", four).find("2 dimensions"),
            std::string::npos);
  EXPECT_NE(err("{'descr': '<u2', 'fortran_order': True, 'shape': (4,), }", four).find("fortran_order"),
            std::string::npos);
  EXPECT_NE(err("{'descr': '<u2', 'fortran_order': False, 'shape': (5,), }", four).find("needs 10"),
            std::string::npos);
  EXPECT_NE(err("{'descr': '<u2', 'shape': (4,), }", four).find("lacks 'fortran_order'"), std::string::npos);
  EXPECT_NE(err("{'descr': '<u2', 'fortran_order': Maybe, 'shape': (4,), }", four).find("malformed"),
            std::string::npos);
  const std::string p = temp_path("fake.npy");
  write_file(p, "not numpy at all");
  EXPECT_NE(sp::test::input_error([&] { IdsFile::open(p, IdsDtype::U16); }).find(p + ": not a .npy file"), std::string::npos);
  fs::remove(p);
}

// Every truncation and every single-byte corruption of a valid file either parses to a consistent
// layout or throws InputError: never a crash or an out-of-bounds read (run under the sanitizers).
TEST(DataNpy, CorruptHeadersFailCleanly) {
  const std::string good =
      npy_v1("{'descr': '<u4', 'fortran_order': False, 'shape': (6,), }") + le_bytes<uint32_t>(kIds);
  const auto probe = [](const std::string& bytes) {
    try {
      const IdsFile f(io::memory_bytes(std::vector<uint8_t>(bytes.begin(), bytes.end()), "c.npy"), IdsDtype::U16, true);
      ASSERT_LE(size_t(f.size()) * ids_dtype_size(f.dtype()), bytes.size());
      (void)f.read(0, f.size());
    } catch (const InputError&) {
    }
  };
  for (size_t n = 0; n < good.size(); ++n) probe(good.substr(0, n));
  for (size_t i = 0; i < 128; ++i)
    for (int v : {0, 0x0a, 0x27, 0x28, 0x29, 0x2c, 0x30, 0x39, 0x7d, 0xff}) {
      std::string bad = good;
      bad[i] = char(v);
      probe(bad);
    }
}

TEST(DataBin, RoundTripsU16AndU32) {
  const std::vector<int32_t> ids(kIds.begin(), kIds.end());
  for (IdsDtype t : {IdsDtype::U16, IdsDtype::U32}) {
    const std::string p = temp_path(std::string("ids_") + ids_dtype_name(t) + ".bin");
    write_file(p, t == IdsDtype::U16 ? le_bytes<uint16_t>(kIds) : le_bytes<uint32_t>(kIds));
    DataSpec spec{p};
    spec.ids_dtype = t;
    EXPECT_EQ(load_eval_ids(spec, nullptr, -1), ids);
    EvalOptions cut;
    cut.max_tokens = 4;
    EXPECT_EQ(load_eval_ids(spec, nullptr, -1, cut), std::vector<int32_t>(ids.begin(), ids.begin() + 4));
    write_bin_ids(p, ids, t);  // the library's writer gives the same bytes
    EXPECT_EQ(read_file(p), t == IdsDtype::U16 ? le_bytes<uint16_t>(kIds) : le_bytes<uint32_t>(kIds));
    fs::remove(p);
  }
}

TEST(DataBin, BadSizesAndValuesNameTheFile) {
  const std::string p = temp_path("odd.bin");
  write_file(p, std::string("\x01\x00\x02", 3));
  EXPECT_NE(sp::test::input_error([&] { IdsFile::open(p, IdsDtype::U16); }).find(p + ": size 3 bytes is not a multiple of 2"),
            std::string::npos);
  write_file(p, le_bytes<uint32_t>({5, 0x80000000LL}));
  const IdsFile f = IdsFile::open(p, IdsDtype::U32);
  EXPECT_NE(sp::test::input_error([&] { f.read(0, 2); }).find(p + ": id 2147483648 at position 1"), std::string::npos);
  write_file(p, le_bytes<uint16_t>({5, 300}));
  // Checked against the model's vocab_size (the spec's), not the tokenizer's: no tokenizer needed,
  // and a tokenizer with a larger vocabulary does not widen the range.
  DataSpec spec{p};
  spec.vocab_size = 257;
  EXPECT_NE(sp::test::input_error([&] { load_eval_ids(spec, nullptr, -1); }).find("id 300 at position 1 is outside [0, 257)"),
            std::string::npos);
  spec.vocab_size = 301;
  test::ByteTokenizer tok;  // vocab 257
  EXPECT_EQ(load_eval_ids(spec, &tok, -1), (std::vector<int32_t>{5, 300}));
  write_file(p, "");
  EXPECT_NE(sp::test::input_error([&] { IdsFile::open(p, IdsDtype::U16); }).find("holds no ids"), std::string::npos);
  fs::remove(p);
}

}  // namespace
}  // namespace sp::data
