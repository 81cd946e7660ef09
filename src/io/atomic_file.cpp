#include "io/atomic_file.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <utility>

#include "core/error.h"
#include "io/output_paths.h"
#include "io/write_error.h"

namespace sp::io {
namespace {

std::string folder_of(const std::string& path) {
  const std::string dir = std::filesystem::path(path).parent_path().string();
  return dir.empty() ? "." : dir;
}

}  // namespace

AtomicFile::AtomicFile(std::string path, int64_t expected_bytes) : path_(std::move(path)), expected_(expected_bytes) {
  tmp_ = fmt::format("{}.tmp.{}", path_, ::getpid());
  // A new file, never through a link: whatever sits under the temporary name (a leftover of a
  // process with the same id, or a planted symbolic link) is removed, not followed.
  const int flags = O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC;
  fd_ = ::open(tmp_.c_str(), flags, 0644);
  if (fd_ < 0 && errno == EEXIST && ::unlink(tmp_.c_str()) == 0) fd_ = ::open(tmp_.c_str(), flags, 0644);
  if (fd_ < 0) throw_create_error(errno, path_, tmp_);
}

AtomicFile::~AtomicFile() {
  if (fd_ >= 0) ::close(fd_);
  if (!committed_) remove_inside_quietly(folder_of(tmp_), tmp_);
}

void AtomicFile::write(const void* data, size_t bytes) {
  SP_CHECK(fd_ >= 0, "write to a closed AtomicFile {}", path_);
  const char* p = static_cast<const char*>(data);
  while (bytes > 0) {
    const ssize_t n = ::write(fd_, p, bytes);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0)
      throw_write_error(errno, path_, "write", expected_ > 0 ? expected_ : written_ + int64_t(bytes), written_);
    p += n;
    bytes -= size_t(n);
    written_ += n;
  }
}

void AtomicFile::commit() {
  SP_CHECK(fd_ >= 0, "commit of a closed AtomicFile {}", path_);
  if (::fsync(fd_) != 0) throw_write_error(errno, path_, "fsync", expected_, written_);
  const int rc = ::close(fd_);
  fd_ = -1;
  if (rc != 0) throw_write_error(errno, path_, "close", expected_, written_);
  if (std::rename(tmp_.c_str(), path_.c_str()) != 0) throw_rename_error(errno, path_, tmp_);
  committed_ = true;
  fsync_dir(folder_of(path_));  // the rename itself durable
}

void write_file_atomic(const std::string& path, std::string_view bytes) {
  AtomicFile f(path, int64_t(bytes.size()));
  f.write(bytes);
  f.commit();
}

}  // namespace sp::io
