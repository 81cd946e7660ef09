#include "tokenize/dataset_ids.h"

#include <cstring>
#include <limits>

#include "core/error.h"

namespace sp::data {
namespace {

template <typename T>
int64_t load(const uint8_t* p, size_t i) {
  T v;
  std::memcpy(&v, p + i * sizeof(T), sizeof(T));  // unaligned-safe; files are little-endian like the host
  return static_cast<int64_t>(v);
}

}  // namespace

IdsFile::IdsFile(std::shared_ptr<io::ByteSource> src, IdsDtype bin_dtype, bool npy)
    : src_(std::move(src)), dtype_(bin_dtype) {
  const std::string& name = src_->name();
  if (npy || (src_->size() >= 6 && std::memcmp(src_->data(), "\x93NUMPY", 6) == 0)) {
    const NpyIds h = parse_npy_ids(*src_);
    dtype_ = h.dtype;
    count_ = h.count;
    data_offset_ = h.data_offset;
  } else {
    SP_REQUIRE(bin_dtype == IdsDtype::U16 || bin_dtype == IdsDtype::U32,
               "{}: raw .bin ids are u16 or u32, not {}", name, ids_dtype_name(bin_dtype));
    const size_t isz = ids_dtype_size(bin_dtype);
    SP_REQUIRE(src_->size() % isz == 0, "{}: size {} bytes is not a multiple of {} ({} ids)", name, src_->size(), isz,
               ids_dtype_name(bin_dtype));
    count_ = src_->size() / isz;
  }
  SP_REQUIRE(count_ > 0, "{}: the id file holds no ids", name);
}

IdsFile IdsFile::open(const std::string& path, IdsDtype bin_dtype) {
  const bool npy = path.size() >= 4 && path.compare(path.size() - 4, 4, ".npy") == 0;
  return IdsFile(io::map_file(path), bin_dtype, npy);
}

std::vector<int32_t> IdsFile::read(int64_t offset, int64_t n, int64_t vocab_size) const {
  SP_CHECK(offset >= 0 && n >= 0 && offset + n <= size(), "slice [{}, {}) outside [0, {}) of {}", offset, offset + n,
           size(), name());
  const uint8_t* p = src_->data() + data_offset_;
  const int64_t limit = vocab_size > 0 ? vocab_size : int64_t(std::numeric_limits<int32_t>::max()) + 1;
  std::vector<int32_t> out(static_cast<size_t>(n));
  for (int64_t k = 0; k < n; ++k) {
    const size_t i = size_t(offset + k);
    int64_t v = 0;
    switch (dtype_) {
      case IdsDtype::U16: v = load<uint16_t>(p, i); break;
      case IdsDtype::U32: v = load<uint32_t>(p, i); break;
      case IdsDtype::I32: v = load<int32_t>(p, i); break;
      case IdsDtype::I64: v = load<int64_t>(p, i); break;
    }
    SP_REQUIRE(v >= 0 && v < limit, "{}: id {} at position {} is outside [0, {})", name(), v, i, limit);
    out[size_t(k)] = static_cast<int32_t>(v);
  }
  return out;
}

}  // namespace sp::data
