#pragma once
// safetensors: 8-byte little-endian header length N, N bytes of JSON header
// {"name": {"dtype": "BF16", "shape": [..], "data_offsets": [begin, end]}, "__metadata__": {..}},
// then the data section; offsets are relative to its start. Everything is validated on open:
// header length within the file, JSON, dtype, shape x dtype size == byte range, ranges inside
// the data section, no two ranges overlapping. Errors name the file and the tensor.
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/tensor.h"
#include "io/byte_source.h"

namespace sp::io {

struct TensorEntry {
  std::string name;
  DType dtype = DType::F32;
  Shape shape;
  size_t begin = 0, end = 0;  // byte range relative to the data section
};

class SafetensorsFile {
 public:
  static std::unique_ptr<SafetensorsFile> open(const std::string& path);
  static std::unique_ptr<SafetensorsFile> parse(std::shared_ptr<ByteSource> src);

  const std::string& path() const { return src_->name(); }
  const std::vector<TensorEntry>& entries() const { return entries_; }
  const TensorEntry* find(const std::string& name) const;  // nullptr when absent
  const uint8_t* bytes(const TensorEntry& e) const { return data_begin_ + e.begin; }
  // Host view of a tensor's bytes (no copy); valid while this file is alive. Aligned to the
  // element size only when the writer padded the header (Hugging Face and write_safetensors do);
  // Checkpoint::load copies with memcpy and has no such requirement.
  Tensor view(const TensorEntry& e) const;
  const std::map<std::string, std::string>& metadata() const { return metadata_; }

 private:
  std::shared_ptr<ByteSource> src_;
  const uint8_t* data_begin_ = nullptr;
  std::vector<TensorEntry> entries_;
  std::map<std::string, size_t> index_;
  std::map<std::string, std::string> metadata_;
};

// Writes one file atomically (temporary name, fsync, rename). Tensors may live on any device.
// Layout as Hugging Face's serializer: tensors ordered by dtype then name, header padded with
// spaces to a multiple of 8 bytes, so equal inputs give byte-identical files.
void write_safetensors(const std::string& path, const std::vector<std::pair<std::string, Tensor>>& tensors,
                       const std::map<std::string, std::string>& metadata = {});

}  // namespace sp::io
