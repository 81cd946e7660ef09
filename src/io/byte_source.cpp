#include "io/byte_source.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "core/error.h"

namespace sp::io {
namespace {

// Read-only private mapping of a whole file; unmapped on destruction. An empty file maps nothing
// (mmap of length 0 is an error) and reads as zero bytes.
class MappedFile final : public ByteSource {
 public:
  explicit MappedFile(std::string path) : path_(std::move(path)) {
    const int fd = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw_input("{}: cannot open: {}", path_, std::strerror(errno));
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
      const int err = errno;
      ::close(fd);
      throw_input("{}: cannot stat: {}", path_, std::strerror(err));
    }
    if (!S_ISREG(st.st_mode)) {
      ::close(fd);
      throw_input("{}: not a regular file", path_);
    }
    size_ = size_t(st.st_size);
    if (size_ > 0) {
      void* p = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
      const int err = errno;
      ::close(fd);  // the mapping keeps the file referenced
      if (p == MAP_FAILED) throw_input("{}: cannot mmap {} bytes: {}", path_, size_, std::strerror(err));
      data_ = static_cast<const uint8_t*>(p);
    } else {
      ::close(fd);
    }
  }
  ~MappedFile() override {
    if (data_) ::munmap(const_cast<uint8_t*>(data_), size_);
  }
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const uint8_t* data() const override { return data_; }
  size_t size() const override { return size_; }
  const std::string& name() const override { return path_; }

 private:
  std::string path_;
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

class MemoryBytes final : public ByteSource {
 public:
  MemoryBytes(std::vector<uint8_t> bytes, std::string label) : bytes_(std::move(bytes)), label_(std::move(label)) {}
  const uint8_t* data() const override { return bytes_.data(); }
  size_t size() const override { return bytes_.size(); }
  const std::string& name() const override { return label_; }

 private:
  std::vector<uint8_t> bytes_;
  std::string label_;
};

}  // namespace

std::shared_ptr<ByteSource> map_file(const std::string& path) { return std::make_shared<MappedFile>(path); }

std::shared_ptr<ByteSource> memory_bytes(std::vector<uint8_t> bytes, std::string label) {
  return std::make_shared<MemoryBytes>(std::move(bytes), std::move(label));
}

}  // namespace sp::io
