#pragma once
// Pre-tokenized id files, memory-mapped: a slice reads only its own pages, so a rank that needs a
// few calibration windows touches only those bytes.
//  * .bin: raw little-endian u16 or u32 (the nanoGPT convention), dtype given by the user.
//  * .npy: '<u2' '<u4' '<i4' '<i8', 1-D, C order (header parsed, see npy.h).
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "io/byte_source.h"
#include "tokenize/npy.h"

namespace sp::data {

class IdsFile {
 public:
  // .npy when `npy` or when the bytes start with the .npy magic; otherwise raw `bin_dtype` (U16/U32).
  IdsFile(std::shared_ptr<io::ByteSource> src, IdsDtype bin_dtype, bool npy = false);
  // `npy` from the extension (".npy").
  static IdsFile open(const std::string& path, IdsDtype bin_dtype);

  int64_t size() const { return int64_t(count_); }
  IdsDtype dtype() const { return dtype_; }
  // ids[offset, offset + n); every value must be a valid id (0 <= id < 2^31, and < vocab_size when
  // vocab_size > 0): InputError naming the file and the position otherwise.
  std::vector<int32_t> read(int64_t offset, int64_t n, int64_t vocab_size = 0) const;
  const std::string& name() const { return src_->name(); }

 private:
  std::shared_ptr<io::ByteSource> src_;
  IdsDtype dtype_;
  size_t count_ = 0;
  size_t data_offset_ = 0;
};

}  // namespace sp::data
