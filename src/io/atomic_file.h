#pragma once
// Atomic output: bytes go to "<path>.tmp.<pid>", are fsync'ed, then renamed over <path>, so a
// failed or killed writer never leaves a partial file under the final name. RAII: a writer that
// is destroyed without commit() removes its temporary file.
#include <cstddef>
#include <string>
#include <string_view>

namespace sp::io {

class AtomicFile {
 public:
  explicit AtomicFile(std::string path);  // throws InputError naming the path if it cannot create
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  void write(const void* data, size_t bytes);
  void write(std::string_view s) { write(s.data(), s.size()); }
  void commit();  // fsync, close, rename, fsync the folder
  const std::string& path() const { return path_; }

 private:
  std::string path_, tmp_;
  int fd_ = -1;
  bool committed_ = false;
};

// Whole-file convenience (JSON indexes, config.json).
void write_file_atomic(const std::string& path, std::string_view bytes);

}  // namespace sp::io
