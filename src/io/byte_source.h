#pragma once
// Parsers read from a ByteSource, so tests and fuzzers can feed bytes from memory and files are
// memory-mapped (lazy: only the pages of the tensors actually read are touched).
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace sp::io {

class ByteSource {
 public:
  virtual ~ByteSource() = default;
  virtual const uint8_t* data() const = 0;
  virtual size_t size() const = 0;
  virtual const std::string& name() const = 0;  // file path or a label, used in error messages
};

// Read-only mmap of a whole file (RAII). Throws InputError naming the file if it cannot be opened.
std::shared_ptr<ByteSource> map_file(const std::string& path);
// Owns a copy of the bytes; `label` appears in error messages.
std::shared_ptr<ByteSource> memory_bytes(std::vector<uint8_t> bytes, std::string label);

}  // namespace sp::io
