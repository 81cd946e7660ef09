#include "io/checkpoint.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <thread>
#include <vector>

#include "core/error.h"

namespace fs = std::filesystem;

namespace sp::io {
namespace {

// Element codecs for the float dtypes: bytes may be unaligned in an mmap'd file, hence memcpy.
template <typename T>
struct PlainCodec {
  using V = T;
  static constexpr size_t kSize = sizeof(T);
  static T get(const uint8_t* p) {
    T v;
    std::memcpy(&v, p, sizeof(T));
    return v;
  }
  static void put(uint8_t* p, T v) { std::memcpy(p, &v, sizeof(T)); }
};
using F32Codec = PlainCodec<float>;
using F64Codec = PlainCodec<double>;
// 16-bit floats stored as bits; the host conversions live in core/dtype.h.
template <float (*ToF32)(uint16_t), uint16_t (*FromF32)(float)>
struct HalfCodec {
  using V = float;
  static constexpr size_t kSize = 2;
  static float get(const uint8_t* p) { return ToF32(PlainCodec<uint16_t>::get(p)); }
  static void put(uint8_t* p, float f) { PlainCodec<uint16_t>::put(p, FromF32(f)); }
};
using BF16Codec = HalfCodec<bf16_to_f32, f32_to_bf16>;
using F16Codec = HalfCodec<f16_to_f32, f32_to_f16>;

// Converts n elements; returns the index of the first element that is not finite after the
// conversion (a NaN/Inf on disk, or a value out of the target's range), or n. An F64 value beyond
// the float range is caught before the cast (which would be undefined behaviour); a float that
// only overflows the 16-bit target becomes Inf there and is caught by reading the result back.
template <typename S, typename D>
size_t convert(const uint8_t* src, uint8_t* dst, size_t n) {
  using From = typename S::V;
  using To = typename D::V;
  for (size_t i = 0; i < n; ++i) {
    const From s = S::get(src + i * S::kSize);
    if constexpr (sizeof(From) > sizeof(To)) {
      if (!(std::fabs(s) <= From(std::numeric_limits<To>::max()))) return i;  // NaN, Inf or out of range
    }
    uint8_t* out = dst + i * D::kSize;
    D::put(out, static_cast<To>(s));
    if (!std::isfinite(D::get(out))) return i;
  }
  return n;
}

template <typename S>
size_t convert_from(const uint8_t* src, uint8_t* dst, size_t n, DType to) {
  switch (to) {
    case DType::F32:
      return convert<S, F32Codec>(src, dst, n);
    case DType::BF16:
      return convert<S, BF16Codec>(src, dst, n);
    case DType::F16:
      return convert<S, F16Codec>(src, dst, n);
    case DType::F64:
      return convert<S, F64Codec>(src, dst, n);
    default:
      break;
  }
  SP_CHECK(false, "convert_from: {} is not a float dtype", dtype_name(to));
  return 0;
}

bool is_float(DType t) { return t == DType::F32 || t == DType::BF16 || t == DType::F16 || t == DType::F64; }

size_t convert_any(const uint8_t* src, DType from, uint8_t* dst, DType to, size_t n) {
  switch (from) {
    case DType::F32:
      return convert_from<F32Codec>(src, dst, n, to);
    case DType::BF16:
      return convert_from<BF16Codec>(src, dst, n, to);
    case DType::F16:
      return convert_from<F16Codec>(src, dst, n, to);
    case DType::F64:
      return convert_from<F64Codec>(src, dst, n, to);
    default:
      break;
  }
  SP_CHECK(false, "convert_any: {} is not a float dtype", dtype_name(from));
  return 0;
}

// The index of the first value of a float array whose exponent bits are all ones (Inf / NaN), or n.
template <typename Bits, Bits kExponent>
size_t first_non_finite(const uint8_t* p, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    Bits b;
    std::memcpy(&b, p + i * sizeof(Bits), sizeof(Bits));
    if ((b & kExponent) == kExponent) return i;
  }
  return n;
}

// Same dtype on disk and in memory: a copy, then the values checked by their bits.
size_t copy_checked(const uint8_t* src, DType t, uint8_t* dst, size_t n) {
  std::memcpy(dst, src, n * dtype_size(t));
  switch (t) {
    case DType::BF16:
      return first_non_finite<uint16_t, 0x7F80>(dst, n);
    case DType::F16:
      return first_non_finite<uint16_t, 0x7C00>(dst, n);
    case DType::F32:
      return first_non_finite<uint32_t, 0x7F800000u>(dst, n);
    default:
      return first_non_finite<uint64_t, 0x7FF0000000000000ull>(dst, n);
  }
}

// convert_any (or copy_checked) over contiguous chunks on up to 8 threads (a 7B layer holds ~200M
// values, each converted and checked). Returns the first bad index over all chunks, or n.
size_t convert_parallel(const uint8_t* src, DType from, uint8_t* dst, DType to, size_t n) {
  constexpr size_t kChunk = size_t(1) << 21;
  const size_t threads =
      std::min<size_t>({size_t(std::max(1u, std::thread::hardware_concurrency())), 8, (n + kChunk - 1) / kChunk});
  auto part = [&](size_t b, size_t e) {
    const size_t k = from == to ? copy_checked(src + b * dtype_size(from), from, dst + b * dtype_size(to), e - b)
                                : convert_any(src + b * dtype_size(from), from, dst + b * dtype_size(to), to, e - b);
    return k < e - b ? b + k : n;
  };
  if (threads <= 1) return part(0, n);
  std::vector<size_t> bad(threads, n);
  std::vector<std::thread> pool;
  const size_t per = (n + threads - 1) / threads;
  for (size_t t = 0; t < threads; ++t)
    pool.emplace_back([&, t] { bad[t] = part(std::min(n, t * per), std::min(n, (t + 1) * per)); });
  for (auto& th : pool) th.join();
  return *std::min_element(bad.begin(), bad.end());
}

nlohmann::json read_json_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  SP_REQUIRE(in.good(), "{}: cannot open", path);
  try {
    return nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& ex) {  // parse_error, or out_of_range for a number overflow
    throw_input("{}: not valid JSON: {}", path, ex.what());
  }
}

// A shard named by the index must be a file of the model folder: an absolute path or a '..'
// would let a downloaded index make us open (and map) any file. Checked on the name alone, before
// anything is opened; symlinks inside the folder (the Hugging Face cache's layout) stay allowed.
void require_inside_folder(const std::string& shard, const std::string& tensor, const std::string& ipath) {
  const fs::path p(shard);
  bool up = false;
  for (const auto& part : p) up = up || part == "..";
  SP_REQUIRE(!shard.empty() && !p.has_root_path() && !up,
             "{}: weight_map['{}'] names shard '{}' outside the model folder (absolute paths and '..' are refused)",
             ipath, tensor, shard);
}

}  // namespace

std::unique_ptr<Checkpoint> Checkpoint::open(const std::string& model_dir) {
  SP_REQUIRE(fs::is_directory(model_dir), "{}: model folder does not exist or is not a folder", model_dir);
  auto ck = std::unique_ptr<Checkpoint>(new Checkpoint());
  ck->dir_ = model_dir;
  const fs::path dir(model_dir);
  const fs::path single = dir / "model.safetensors";
  const fs::path index = dir / "model.safetensors.index.json";

  // Same preference as transformers: the single file first, then the index.
  if (fs::exists(single)) {
    ck->files_.push_back(SafetensorsFile::open(single.string()));
  } else if (fs::exists(index)) {
    const std::string ipath = index.string();
    const nlohmann::json j = read_json_file(ipath);
    SP_REQUIRE(j.is_object() && j.contains("weight_map") && j["weight_map"].is_object(),
               "{}: missing 'weight_map' object", ipath);
    std::map<std::string, size_t> shard_idx;
    for (const auto& [name, shard_v] : j["weight_map"].items()) {
      SP_REQUIRE(shard_v.is_string(), "{}: weight_map['{}'] must be a shard file name", ipath, name);
      const std::string shard = shard_v.get<std::string>();
      auto it = shard_idx.find(shard);
      if (it == shard_idx.end()) {
        require_inside_folder(shard, name, ipath);
        const fs::path sp = dir / shard;
        SP_REQUIRE(fs::is_regular_file(sp), "{}: shard file '{}' (named for tensor '{}') does not exist in {}", ipath,
                   shard, name, model_dir);
        ck->files_.push_back(SafetensorsFile::open(sp.string()));
        it = shard_idx.emplace(shard, ck->files_.size() - 1).first;
      }
      const TensorEntry* e = ck->files_[it->second]->find(name);
      SP_REQUIRE(e != nullptr, "{}: tensor '{}' is mapped to shard '{}', which does not contain it", ipath, name,
                 shard);
      ck->where_[name] = {it->second, e};
    }
    SP_REQUIRE(!ck->files_.empty(), "{}: empty 'weight_map'", ipath);
  } else {
    throw_input("{}: no model.safetensors or model.safetensors.index.json in the model folder", model_dir);
  }
  for (size_t f = 0; f < ck->files_.size(); ++f)
    for (const auto& e : ck->files_[f]->entries()) ck->where_.emplace(e.name, std::make_pair(f, &e));
  return ck;
}

bool Checkpoint::has(const std::string& name) const { return where_.count(name) != 0; }

const TensorEntry& Checkpoint::info(const std::string& name) const {
  auto it = where_.find(name);
  SP_REQUIRE(it != where_.end(), "{}: tensor '{}' not found in the checkpoint", dir_, name);
  return *it->second.second;
}

std::string Checkpoint::file_of(const std::string& name) const {
  auto it = where_.find(name);
  SP_REQUIRE(it != where_.end(), "{}: tensor '{}' not found in the checkpoint", dir_, name);
  return files_[it->second.first]->path();
}

Tensor Checkpoint::load(const std::string& name, DType dtype, Device device, const Shape& expect) {
  Tensor host = Tensor::empty(info(name).shape, dtype, Device::cpu());
  load_into(name, dtype, host.raw(), expect);
  return device.is_cpu() ? host : host.to(device);
}

void Checkpoint::load_into(const std::string& name, DType dtype, void* dst, const Shape& expect) {
  const TensorEntry& e = info(name);
  load_rows_into(name, 0, e.shape.empty() ? 1 : e.shape[0], dtype, dst, expect);
}

void Checkpoint::load_rows_into(const std::string& name, int64_t row0, int64_t rows, DType dtype, void* dst,
                                const Shape& expect) {
  const TensorEntry& e = info(name);
  const SafetensorsFile& f = *files_[where_.at(name).first];
  SP_REQUIRE(expect.empty() || expect == e.shape, "{}: tensor '{}': expected shape {}, found {}", f.path(), name,
             shape_str(expect), shape_str(e.shape));
  const int64_t all_rows = e.shape.empty() ? 1 : e.shape[0];  // a scalar is one row
  SP_CHECK(row0 >= 0 && rows >= 0 && row0 + rows <= all_rows, "tensor '{}': rows [{}, {}) of {}", name, row0,
           row0 + rows, all_rows);
  const size_t row_len = all_rows == 0 ? 0 : size_t(shape_numel(e.shape) / all_rows);
  const size_t first = size_t(row0) * row_len, n = size_t(rows) * row_len;
  const uint8_t* src = f.bytes(e) + first * dtype_size(e.dtype);
  if (is_float(e.dtype)) {
    SP_REQUIRE(is_float(dtype), "{}: tensor '{}' is {} on disk and cannot be loaded as {}", f.path(), name,
               dtype_name(e.dtype), dtype_name(dtype));
    const size_t bad = convert_parallel(src, e.dtype, static_cast<uint8_t*>(dst), dtype, n);
    if (bad < n) {
      uint8_t raw[8];
      convert_any(src + bad * dtype_size(e.dtype), e.dtype, raw, DType::F64, 1);
      const double v = F64Codec::get(raw);
      if (std::isfinite(v))
        throw_input("{}: tensor '{}': value {} at flat index {} overflows {}", f.path(), name, v, first + bad,
                    dtype_name(dtype));
      throw_input("{}: tensor '{}' holds a non-finite value ({}) at flat index {}", f.path(), name, v, first + bad);
    }
  } else {
    SP_REQUIRE(dtype == e.dtype, "{}: tensor '{}' is {} on disk and cannot be loaded as {}", f.path(), name,
               dtype_name(e.dtype), dtype_name(dtype));
    if (n > 0) std::memcpy(dst, src, n * dtype_size(e.dtype));
  }
}

std::vector<std::string> Checkpoint::names() const {
  std::vector<std::string> out;
  out.reserve(where_.size());
  for (const auto& [name, w] : where_) out.push_back(name);
  return out;
}


}  // namespace sp::io
