#include "io/safetensors.h"

#include <fmt/format.h>

#include <algorithm>
#include <limits>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "io/atomic_file.h"

namespace sp::io {
namespace {

constexpr size_t kMaxHeaderBytes = 100u * 1000u * 1000u;  // as the reference implementation

// safetensors dtype names this engine reads; the others in the format (F8_*, I8, U16, ...) are
// rejected by name rather than misread.
bool supported_dtype(const std::string& s, DType* out) {
  static const std::pair<const char*, DType> kTable[] = {
      {"F32", DType::F32}, {"F16", DType::F16}, {"BF16", DType::BF16}, {"F64", DType::F64},
      {"I32", DType::I32}, {"I64", DType::I64}, {"U8", DType::U8}};
  for (const auto& [name, dt] : kTable)
    if (s == name) {
      *out = dt;
      return true;
    }
  return false;
}

size_t json_size(const nlohmann::json& v, const std::string& file, const std::string& tensor, const char* field) {
  SP_REQUIRE(v.is_number_unsigned() || (v.is_number_integer() && v.get<int64_t>() >= 0),
             "{}: tensor '{}': {} must hold non-negative integers, got {}", file, tensor, field, v.dump());
  return v.get<size_t>();
}

TensorEntry parse_entry(const std::string& file, const std::string& name, const nlohmann::json& v) {
  SP_REQUIRE(v.is_object(), "{}: tensor '{}': header entry must be an object, got {}", file, name, v.type_name());
  TensorEntry e;
  e.name = name;
  SP_REQUIRE(v.contains("dtype") && v["dtype"].is_string(), "{}: tensor '{}': missing or non-string 'dtype'", file,
             name);
  const std::string dt = v["dtype"].get<std::string>();
  SP_REQUIRE(supported_dtype(dt, &e.dtype),
             "{}: tensor '{}': unsupported dtype '{}' (supported: F32, F16, BF16, F64, I32, I64, U8)", file, name, dt);
  SP_REQUIRE(v.contains("shape") && v["shape"].is_array(), "{}: tensor '{}': missing or non-array 'shape'", file, name);
  size_t numel = 1;
  for (const auto& d : v["shape"]) {
    const size_t n = json_size(d, file, name, "shape");
    SP_REQUIRE(n <= size_t(std::numeric_limits<int64_t>::max()) && (n == 0 || numel <= SIZE_MAX / n),
               "{}: tensor '{}': shape {} overflows", file, name, v["shape"].dump());
    numel *= n;
    e.shape.push_back(int64_t(n));
  }
  SP_REQUIRE(v.contains("data_offsets") && v["data_offsets"].is_array() && v["data_offsets"].size() == 2,
             "{}: tensor '{}': 'data_offsets' must be [begin, end]", file, name);
  e.begin = json_size(v["data_offsets"][0], file, name, "data_offsets");
  e.end = json_size(v["data_offsets"][1], file, name, "data_offsets");
  SP_REQUIRE(e.begin <= e.end, "{}: tensor '{}': data_offsets [{}, {}] has begin > end", file, name, e.begin, e.end);
  const size_t esz = dtype_size(e.dtype);
  SP_REQUIRE(numel <= SIZE_MAX / esz, "{}: tensor '{}': shape {} overflows", file, name, shape_str(e.shape));
  SP_REQUIRE(e.end - e.begin == numel * esz,
             "{}: tensor '{}': byte range [{}, {}) holds {} bytes but shape {} x {} needs {} (wrong dtype for the "
             "shape?)",
             file, name, e.begin, e.end, e.end - e.begin, shape_str(e.shape), dt, numel * esz);
  return e;
}

}  // namespace

std::unique_ptr<SafetensorsFile> SafetensorsFile::open(const std::string& path) { return parse(map_file(path)); }

std::unique_ptr<SafetensorsFile> SafetensorsFile::parse(std::shared_ptr<ByteSource> src) {
  const std::string& file = src->name();
  const size_t size = src->size();
  SP_REQUIRE(size >= 8, "{}: truncated safetensors file: {} bytes, shorter than the 8-byte header length", file, size);
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | src->data()[i];  // little endian, whatever the host
  SP_REQUIRE(n <= size - 8,
             "{}: header length {} exceeds the file size ({} bytes after the length field; "
             "truncated or not a safetensors file)",
             file, n, size - 8);
  SP_REQUIRE(n <= kMaxHeaderBytes, "{}: header length {} exceeds the 100 MB limit", file, n);

  const char* hbeg = reinterpret_cast<const char*>(src->data() + 8);
  nlohmann::json header;
  try {
    header = nlohmann::json::parse(hbeg, hbeg + n);
  } catch (const nlohmann::json::exception& ex) {  // parse_error, or out_of_range for a number overflow
    throw_input("{}: header is not valid JSON: {}", file, ex.what());
  }
  SP_REQUIRE(header.is_object(), "{}: header must be a JSON object, got {}", file, header.type_name());

  auto f = std::unique_ptr<SafetensorsFile>(new SafetensorsFile());
  f->src_ = src;
  f->data_begin_ = src->data() + 8 + n;
  const size_t data_size = size - 8 - size_t(n);
  for (const auto& [key, v] : header.items()) {
    if (key == "__metadata__") {
      SP_REQUIRE(v.is_object() || v.is_null(), "{}: '__metadata__' must be an object of strings", file);
      if (v.is_null()) continue;
      for (const auto& [mk, mv] : v.items()) {
        SP_REQUIRE(mv.is_string(), "{}: '__metadata__' field '{}' must be a string, got {}", file, mk, mv.dump());
        f->metadata_[mk] = mv.get<std::string>();
      }
      continue;
    }
    TensorEntry e = parse_entry(file, key, v);
    SP_REQUIRE(e.end <= data_size,
               "{}: tensor '{}': data_offsets [{}, {}] out of range: the data section has {} bytes (truncated "
               "file?)",
               file, key, e.begin, e.end, data_size);
    f->entries_.push_back(std::move(e));
  }
  // No two byte ranges may share a byte (empty tensors occupy nothing).
  std::vector<const TensorEntry*> by_begin;
  for (const auto& e : f->entries_)
    if (e.end > e.begin) by_begin.push_back(&e);
  std::sort(by_begin.begin(), by_begin.end(), [](auto* a, auto* b) { return a->begin < b->begin; });
  for (size_t i = 1; i < by_begin.size(); ++i) {
    const TensorEntry& a = *by_begin[i - 1];
    const TensorEntry& b = *by_begin[i];
    SP_REQUIRE(a.end <= b.begin, "{}: tensors '{}' [{}, {}) and '{}' [{}, {}) have overlapping data_offsets", file,
               a.name, a.begin, a.end, b.name, b.begin, b.end);
  }
  for (size_t i = 0; i < f->entries_.size(); ++i) f->index_[f->entries_[i].name] = i;
  return f;
}

const TensorEntry* SafetensorsFile::find(const std::string& name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : &entries_[it->second];
}

Tensor SafetensorsFile::view(const TensorEntry& e) const {
  return Tensor::view_of(const_cast<uint8_t*>(bytes(e)), e.shape, e.dtype, Device::cpu());
}

void write_safetensors(const std::string& path, const std::vector<std::pair<std::string, Tensor>>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  // The reference writer's order: dtype rank descending (I64, F64, F32, I32, BF16, F16, U8), then
  // name. Every tensor then stays aligned to its element size once the header is padded to 8
  // bytes, and the same tensors give a byte-identical file to Hugging Face's.
  auto rank = [](DType t) {
    switch (t) {
      case DType::I64:
        return 7;
      case DType::F64:
        return 6;
      case DType::F32:
        return 5;
      case DType::I32:
        return 4;
      case DType::BF16:
        return 3;
      case DType::F16:
        return 2;
      case DType::U8:
        return 1;
    }
    return 0;
  };
  std::vector<size_t> order(tensors.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    const int ra = rank(tensors[a].second.dtype()), rb = rank(tensors[b].second.dtype());
    return ra != rb ? ra > rb : tensors[a].first < tensors[b].first;
  });

  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) {
    nlohmann::ordered_json m = nlohmann::ordered_json::object();
    for (const auto& [k, v] : metadata) m[k] = v;
    header["__metadata__"] = m;
  }
  size_t offset = 0;
  for (size_t i : order) {
    const auto& [name, t] = tensors[i];
    SP_REQUIRE(t.defined(), "{}: tensor '{}' is undefined", path, name);
    SP_REQUIRE(name != "__metadata__" && !header.contains(name), "{}: duplicate or reserved tensor name '{}'", path,
               name);
    header[name] = {
        {"dtype", dtype_name(t.dtype())}, {"shape", t.shape()}, {"data_offsets", {offset, offset + t.nbytes()}}};
    offset += t.nbytes();
  }
  std::string h = header.dump();
  h.append((8 - h.size() % 8) % 8, ' ');  // pad with spaces, as Hugging Face does

  AtomicFile out(path, int64_t(8 + h.size() + offset));
  uint8_t len[8];
  for (int i = 0; i < 8; ++i) len[i] = uint8_t(uint64_t(h.size()) >> (8 * i));
  out.write(len, 8);
  out.write(h);
  for (size_t i : order) {
    const Tensor& t = tensors[i].second;
    if (t.nbytes() == 0) continue;
    if (t.is_cpu()) {
      out.write(t.raw(), t.nbytes());
    } else {
      const Tensor host = t.to(Device::cpu());
      out.write(host.raw(), host.nbytes());
    }
  }
  out.commit();
}

}  // namespace sp::io
