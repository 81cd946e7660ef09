#include "io/gguf_writer.h"

#include <algorithm>
#include <cstring>

#include "core/error.h"
#include "io/atomic_file.h"

namespace sp::io {
namespace {

// gguf_type of a metadata value (docs/gguf.md).
enum : uint32_t { kU32 = 4, kI32 = 5, kF32 = 6, kBool = 7, kString = 8, kArray = 9 };

template <typename T>
void put(std::string& out, T v) {
  char b[sizeof(T)];
  std::memcpy(b, &v, sizeof(T));
  out.append(b, sizeof(T));
}

void put_string(std::string& out, const std::string& s) {
  put<uint64_t>(out, s.size());
  out += s;
}

uint64_t align_up(uint64_t x, uint64_t a) { return (x + a - 1) / a * a; }

}  // namespace

size_t gguf_type_size(GgufTensorType t) { return t == GgufTensorType::F32 ? 4 : 2; }

const char* gguf_type_name(GgufTensorType t) {
  switch (t) {
    case GgufTensorType::F32:
      return "F32";
    case GgufTensorType::F16:
      return "F16";
    case GgufTensorType::BF16:
      return "BF16";
  }
  return "?";
}

void GgufWriter::begin_kv(const std::string& key, uint32_t value_type) {
  SP_REQUIRE(!key.empty(), "GGUF: empty metadata key");
  SP_REQUIRE(std::find(kv_keys_.begin(), kv_keys_.end(), key) == kv_keys_.end(), "GGUF: metadata key '{}' added twice",
             key);
  kv_keys_.push_back(key);
  put_string(kv_bytes_, key);
  put<uint32_t>(kv_bytes_, value_type);
}

void GgufWriter::add_u32(const std::string& key, uint32_t v) {
  begin_kv(key, kU32);
  put(kv_bytes_, v);
}
void GgufWriter::add_i32(const std::string& key, int32_t v) {
  begin_kv(key, kI32);
  put(kv_bytes_, v);
}
void GgufWriter::add_f32(const std::string& key, float v) {
  begin_kv(key, kF32);
  put(kv_bytes_, v);
}
void GgufWriter::add_bool(const std::string& key, bool v) {
  begin_kv(key, kBool);
  put<uint8_t>(kv_bytes_, v ? 1 : 0);
}
void GgufWriter::add_string(const std::string& key, const std::string& v) {
  begin_kv(key, kString);
  put_string(kv_bytes_, v);
}
void GgufWriter::add_string_array(const std::string& key, const std::vector<std::string>& v) {
  begin_kv(key, kArray);
  put<uint32_t>(kv_bytes_, kString);
  put<uint64_t>(kv_bytes_, v.size());
  for (const auto& s : v) put_string(kv_bytes_, s);
}
void GgufWriter::add_i32_array(const std::string& key, const std::vector<int32_t>& v) {
  begin_kv(key, kArray);
  put<uint32_t>(kv_bytes_, kI32);
  put<uint64_t>(kv_bytes_, v.size());
  for (const int32_t x : v) put(kv_bytes_, x);
}
void GgufWriter::add_f32_array(const std::string& key, const std::vector<float>& v) {
  begin_kv(key, kArray);
  put<uint32_t>(kv_bytes_, kF32);
  put<uint64_t>(kv_bytes_, v.size());
  for (const float x : v) put(kv_bytes_, x);
}

void GgufWriter::add_tensor(const std::string& name, std::vector<uint64_t> ne, GgufTensorType type, Bytes bytes) {
  // ggml keeps tensor names in 64-byte buffers (GGML_MAX_NAME), the terminator included.
  SP_REQUIRE(!name.empty() && name.size() < 64, "GGUF: tensor name '{}' must have 1 to 63 bytes", name);
  SP_REQUIRE(ne.size() >= 1 && ne.size() <= 4, "GGUF: tensor '{}' has {} dims (1 to 4)", name, ne.size());
  for (const auto& t : tensors_) SP_REQUIRE(t.name != name, "GGUF: tensor '{}' added twice", name);
  uint64_t n = 1;
  for (const uint64_t d : ne) {
    SP_REQUIRE(d > 0, "GGUF: tensor '{}' has an empty dim", name);
    n *= d;
  }
  tensors_.push_back({name, std::move(ne), type, n * gguf_type_size(type), std::move(bytes)});
}

void GgufWriter::write(const std::string& path) const {
  std::string head;
  head += "GGUF";
  put<uint32_t>(head, 3);
  put<uint64_t>(head, tensors_.size());
  put<uint64_t>(head, kv_keys_.size());
  head += kv_bytes_;
  uint64_t offset = 0;
  for (const auto& t : tensors_) {
    put_string(head, t.name);
    put<uint32_t>(head, uint32_t(t.ne.size()));
    for (const uint64_t d : t.ne) put<uint64_t>(head, d);
    put<uint32_t>(head, uint32_t(t.type));
    put<uint64_t>(head, offset);
    offset = align_up(offset + t.nbytes, kAlignment);
  }
  head.resize(align_up(head.size(), kAlignment), '\0');

  AtomicFile out(path);
  out.write(head);
  const std::string zeros(kAlignment, '\0');
  for (const auto& t : tensors_) {
    const std::vector<uint8_t> b = t.bytes();
    SP_CHECK(b.size() == t.nbytes, "GGUF tensor '{}': {} bytes produced, {} expected", t.name, b.size(), t.nbytes);
    out.write(b.data(), b.size());
    out.write(zeros.data(), align_up(t.nbytes, kAlignment) - t.nbytes);
  }
  out.commit();
}

}  // namespace sp::io
