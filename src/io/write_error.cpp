#include "io/write_error.h"

#include <fmt/format.h>

#include <cerrno>
#include <cstring>

#include "core/error.h"

namespace sp::io {

bool is_environment_errno(int err) {
  switch (err) {
    case ENOSPC:
    case EDQUOT:
    case EFBIG:
    case EIO:
    case ENOMEM:
    case EMFILE:
    case ENFILE:
    case ESTALE:
    case ETIMEDOUT:
    case EAGAIN:
    case ENOLCK:
      return true;
    default:
      return false;
  }
}

void throw_create_error(int err, const std::string& shown, const std::string& file) {
  const std::string msg = fmt::format("{}: cannot create output file {}: {}", shown, file, std::strerror(err));
  if (is_environment_errno(err)) throw IoError(msg);
  throw InputError(msg);
}

void throw_write_error(int err, const std::string& shown, const char* what, int64_t needed, int64_t written) {
  std::string msg = fmt::format("{}: {} failed: {}", shown, what, std::strerror(err));
  if (needed > 0 && written >= 0)
    msg += fmt::format(" (the file needs {} bytes, {} were written: {} more bytes needed)", needed, written,
                       needed > written ? needed - written : 0);
  else if (needed > 0)
    msg += fmt::format(" (the file needs {} bytes)", needed);
  // Once the file exists, any failure to fill it is the environment's (disk, quota, device).
  throw IoError(msg);
}

void throw_rename_error(int err, const std::string& to, const std::string& from) {
  const std::string msg = fmt::format("{}: rename from {} failed: {}", to, from, std::strerror(err));
  if (err == EISDIR || err == ENOTEMPTY || err == EEXIST || err == EACCES || err == EPERM || err == ENOTDIR)
    throw InputError(msg);
  throw IoError(msg);
}

}  // namespace sp::io
