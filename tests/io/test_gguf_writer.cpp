// GGUF writer: the bytes of the format checked by hand (magic, version, counts, alignment), errors
// that name the key / tensor, atomicity, and an independent reader: ggml's own Python `gguf`
// package (GGUFReader; skipped when `import gguf, numpy` fails; $STRUPRUNE_PYTHON picks the
// interpreter) reads back every key with its type and value, every tensor's shape, type and bytes.
#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "io/gguf_writer.h"
#include "io_test_util.h"

namespace sp::io {
namespace {

using test::listing;
using test::ScratchDir;

std::string slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

std::string python() {
  const char* p = std::getenv("STRUPRUNE_PYTHON");
  return p && *p ? p : "python3";
}

template <typename T>
std::vector<uint8_t> bytes_of(const std::vector<T>& v) {
  std::vector<uint8_t> b(v.size() * sizeof(T));
  std::memcpy(b.data(), v.data(), b.size());
  return b;
}

// A writer with every value type and three tensors of odd sizes (so alignment padding is exercised).
GgufWriter sample() {
  GgufWriter w;
  w.add_string("general.architecture", "llama");
  w.add_u32("llama.block_count", 3);
  w.add_i32("test.negative", -7);
  w.add_f32("llama.rope.freq_base", 500000.f);
  w.add_bool("tokenizer.ggml.add_bos_token", true);
  w.add_string_array("tokenizer.ggml.tokens", {"<unk>", "\xE2\x96\x81the", ""});
  w.add_i32_array("llama.attention.head_count", {4, 0, 2});
  w.add_f32_array("tokenizer.ggml.scores", {0.f, -1.5f, -1e9f});
  std::vector<float> a(15);
  for (size_t i = 0; i < a.size(); ++i) a[i] = float(i) * 0.25f - 1.f;
  w.add_tensor("blk.0.attn_q.weight", {5, 3}, GgufTensorType::F32, [a] { return bytes_of(a); });
  std::vector<uint16_t> h = {f32_to_f16(1.f), f32_to_f16(-2.5f), f32_to_f16(65504.f)};
  w.add_tensor("f16.tensor", {3}, GgufTensorType::F16, [h] { return bytes_of(h); });
  std::vector<uint16_t> bf(14);
  for (size_t i = 0; i < bf.size(); ++i) bf[i] = f32_to_bf16(float(i) - 3.f);
  w.add_tensor("bf16.tensor", {7, 2}, GgufTensorType::BF16, [bf] { return bytes_of(bf); });
  return w;
}

TEST(GgufWriter, HeaderAndAlignment) {
  ScratchDir d;
  const std::string path = d / "m.gguf";
  sample().write(path);
  const std::string b = slurp(path);
  ASSERT_GE(b.size(), 24u);
  EXPECT_EQ(b.substr(0, 4), "GGUF");
  uint32_t version;
  uint64_t n_tensors, n_kv;
  std::memcpy(&version, b.data() + 4, 4);
  std::memcpy(&n_tensors, b.data() + 8, 8);
  std::memcpy(&n_kv, b.data() + 16, 8);
  EXPECT_EQ(version, 3u);
  EXPECT_EQ(n_tensors, 3u);
  EXPECT_EQ(n_kv, 8u);
  // Every tensor, the last included, is padded to 32 bytes: F32 60 -> 64, F16 6 -> 32, BF16 28 -> 32,
  // so the BF16 tensor's bytes are the first 28 of the file's last 32.
  EXPECT_EQ(b.size() % 32, 0u);
  const std::string tail = b.substr(b.size() - 32, 28);
  uint16_t first;
  std::memcpy(&first, tail.data(), 2);
  EXPECT_EQ(bf16_to_f32(first), -3.f);
  EXPECT_EQ(listing(d.str()), std::vector<std::string>{"m.gguf"});
}

TEST(GgufWriter, ErrorsNameTheKeyOrTensor) {
  GgufWriter w;
  w.add_u32("a.key", 1);
  test::expect_input_error([&] { w.add_string("a.key", "x"); }, {"a.key", "twice"});
  test::expect_input_error([&] { w.add_tensor("t", {0, 2}, GgufTensorType::F32, {}); }, {"'t'", "empty dim"});
  test::expect_input_error([&] { w.add_tensor(std::string(64, 'x'), {1}, GgufTensorType::F32, {}); },
                           {"1 to 63 bytes"});
  test::expect_input_error([&] { w.add_tensor("t5", {1, 1, 1, 1, 1}, GgufTensorType::F32, {}); }, {"'t5'", "5 dims"});
}

TEST(GgufWriter, ShortTensorBytesLeaveNoFile) {
  ScratchDir d;
  GgufWriter w;
  w.add_string("general.architecture", "llama");
  w.add_tensor("short", {4}, GgufTensorType::F32, [] { return std::vector<uint8_t>(12); });
  EXPECT_THROW(w.write(d / "m.gguf"), RuntimeFailure);
  EXPECT_TRUE(listing(d.str()).empty());
}

TEST(GgufWriter, PythonGgufReaderReadsItBack) {
  if (std::system((python() + " -c 'import gguf, numpy' > /dev/null 2>&1").c_str()) != 0)
    GTEST_SKIP() << python() << " lacks the gguf package (pip install gguf)";
  ScratchDir d;
  const std::string path = d / "m.gguf";
  sample().write(path);
  const std::string py = d / "check.py";
  std::ofstream(py) << R"PY(import sys
import numpy as np
from gguf import GGUFReader, GGUFValueType as V, GGMLQuantizationType as Q
r = GGUFReader(sys.argv[1])
f = r.fields
def check(key, types, value):
    assert key in f, key
    assert f[key].types == types, (key, f[key].types)
    got = f[key].contents()
    if isinstance(value, float):
        assert abs(got - value) <= abs(value) * 1e-7, (key, got)
    else:
        assert got == value, (key, got, value)
check("general.architecture", [V.STRING], "llama")
check("llama.block_count", [V.UINT32], 3)
check("test.negative", [V.INT32], -7)
check("llama.rope.freq_base", [V.FLOAT32], 500000.0)
check("tokenizer.ggml.add_bos_token", [V.BOOL], True)
check("tokenizer.ggml.tokens", [V.ARRAY, V.STRING], ["<unk>", "\u2581the", ""])
check("llama.attention.head_count", [V.ARRAY, V.INT32], [4, 0, 2])
check("tokenizer.ggml.scores", [V.ARRAY, V.FLOAT32], [0.0, -1.5, -1e9])
user = [k for k in f if not k.startswith("GGUF.")]
assert user == ["general.architecture", "llama.block_count", "test.negative", "llama.rope.freq_base",
                "tokenizer.ggml.add_bos_token", "tokenizer.ggml.tokens", "llama.attention.head_count",
                "tokenizer.ggml.scores"], user
t = {x.name: x for x in r.tensors}
assert [x.name for x in r.tensors] == ["blk.0.attn_q.weight", "f16.tensor", "bf16.tensor"]
a = t["blk.0.attn_q.weight"]
assert a.tensor_type == Q.F32 and list(a.shape) == [5, 3], (a.tensor_type, a.shape)
assert np.array_equal(np.asarray(a.data).reshape(3, 5), (np.arange(15, dtype=np.float32) * 0.25 - 1).reshape(3, 5))
h = t["f16.tensor"]
assert h.tensor_type == Q.F16 and list(h.shape) == [3]
assert np.array_equal(np.asarray(h.data).astype(np.float32), np.array([1, -2.5, 65504], np.float32))
b = t["bf16.tensor"]
assert b.tensor_type == Q.BF16 and list(b.shape) == [7, 2] and b.n_bytes == 28
bits = np.frombuffer(np.asarray(b.data).tobytes(), dtype=np.uint16).astype(np.uint32) << 16
assert np.array_equal(bits.view(np.float32), np.arange(14, dtype=np.float32) - 3), bits.view(np.float32)
for x in r.tensors:
    assert x.data_offset % 32 == 0, (x.name, x.data_offset)
print("ok")
)PY";
  const int rc = std::system((python() + " " + py + " " + path + " > " + py + ".log 2>&1").c_str());
  EXPECT_EQ(rc, 0) << slurp(py + ".log");
}

}  // namespace
}  // namespace sp::io
