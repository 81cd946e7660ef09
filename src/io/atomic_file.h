#pragma once
// Atomic output: bytes go to "<path>.tmp.<pid>", are fsync'ed, then renamed over <path>, so a
// failed or killed writer never leaves a partial file under the final name. RAII: a writer that
// is destroyed without commit() removes its temporary file. The temporary is always a new file
// (O_EXCL, O_NOFOLLOW): a link planted under its name is removed, never written through.
// Errors (io/write_error.h): a path that cannot be created -> InputError, or IoError when the
// environment failed (full disk, quota); a failed write, fsync, close or rename -> IoError naming
// the path and the bytes the file needs.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace sp::io {

class AtomicFile {
 public:
  // expected_bytes: the file's final size when known (named in a full disk's error), else -1.
  explicit AtomicFile(std::string path, int64_t expected_bytes = -1);
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
  int64_t expected_ = -1, written_ = 0;
  bool committed_ = false;
};

// Whole-file convenience (JSON indexes, config.json).
void write_file_atomic(const std::string& path, std::string_view bytes);

}  // namespace sp::io
