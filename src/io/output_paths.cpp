// Output names, removals confined to output.dir, and the folder swap (see output_paths.h).
#include "io/output_paths.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <system_error>

#include "core/error.h"
#include "core/log.h"

namespace sp::io {
namespace fs = std::filesystem;
namespace {

// Absolute and lexically normal, without a trailing separator ("/a/b/" -> "/a/b").
fs::path normal(const fs::path& p) {
  std::error_code ec;
  fs::path a = fs::absolute(p, ec);
  if (ec) a = p;
  a = a.lexically_normal();
  if (!a.has_filename() && a.has_relative_path()) a = a.parent_path();
  return a;
}

// normal(), then the symbolic links of its existing part resolved.
fs::path resolved(const fs::path& p) {
  const fs::path n = normal(p);
  std::error_code ec;
  const fs::path c = fs::weakly_canonical(n, ec);
  return ec ? n : normal(c);
}

}  // namespace

void fsync_dir(const std::string& dir) noexcept {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
}

std::string single_name_problem(const std::string& name) {
  if (name.empty()) return "is empty";
  if (name.find('\0') != std::string::npos) return "holds a NUL byte";
  if (name.find('/') != std::string::npos || name.find('\\') != std::string::npos)
    return "holds a path separator ('/' or '\\')";
  if (name == "." || name == "..") return "names a folder itself, not an entry in it";
  if (name.front() == '.') return "starts with '.' (hidden names are the tool's own: .journal, temporaries)";
  return "";
}

bool strictly_inside(const std::string& root, const std::string& path) {
  if (root.empty() || path.empty()) return false;
  const fs::path p = normal(path);
  const fs::path name = p.filename();
  if (name.empty() || name == "." || name == "..") return false;
  const fs::path full = resolved(p.parent_path()) / name;
  const fs::path r = resolved(root);
  auto fi = full.begin();
  for (auto ri = r.begin(); ri != r.end(); ++ri, ++fi)
    if (fi == full.end() || *ri != *fi) return false;
  return fi != full.end();
}

bool remove_inside(const std::string& root, const std::string& path) {
  SP_CHECK(strictly_inside(root, path), "refusing to remove {}: it is not inside {}", path, root);
  std::error_code ec;
  const fs::file_status st = fs::symlink_status(path, ec);
  if (!fs::exists(st)) return false;
  fs::remove_all(path, ec);
  if (ec) throw IoError(fmt::format("{}: cannot remove: {}", path, ec.message()));
  return true;
}

bool remove_inside_quietly(const std::string& root, const std::string& path) noexcept {
  try {
    if (!strictly_inside(root, path)) {
      SP_LOG_WARN("refusing to remove {}: it is not inside {}", path, root);
      return false;
    }
    std::error_code ec;
    fs::remove_all(path, ec);
    if (ec) SP_LOG_WARN("{}: cannot remove: {}", path, ec.message());
    return !ec;
  } catch (...) {  // allocation or logging failures: a cleanup never throws
    return false;
  }
}

std::string aside_name(const std::string& target_name, long pid) { return fmt::format(".{}.old.{}", target_name, pid); }

void replace_folder(const std::string& root, const std::string& fresh, const std::string& target,
                    const RenameOp& rename_op) {
  SP_CHECK(strictly_inside(root, fresh) && strictly_inside(root, target),
           "refusing to move {} to {}: both must be inside {}", fresh, target, root);
  const RenameOp ren = rename_op ? rename_op : RenameOp([](const char* a, const char* b) { return std::rename(a, b); });
  std::error_code ec;
  const bool had_old = fs::exists(fs::symlink_status(target, ec));
  const std::string aside =
      (fs::path(root) / aside_name(normal(target).filename().string(), long(::getpid()))).string();
  if (had_old) {
    remove_inside(root, aside);  // a leftover of an earlier swap by a process of the same id
    if (ren(target.c_str(), aside.c_str()) != 0)
      throw IoError(fmt::format("{}: cannot move the previous folder aside to {}: {}; nothing was replaced", target,
                                aside, std::strerror(errno)));
  }
  if (ren(fresh.c_str(), target.c_str()) != 0) {
    const int err = errno;
    if (had_old && ren(aside.c_str(), target.c_str()) != 0)
      throw IoError(
          fmt::format("{}: cannot move {} into place: {}; and the previous folder could not be moved back "
                      "({}): it is at {}",
                      target, fresh, std::strerror(err), std::strerror(errno), aside));
    throw IoError(fmt::format("{}: cannot move {} into place: {}; {}", target, fresh, std::strerror(err),
                              had_old ? "the previous folder is back in place" : "nothing was replaced"));
  }
  fsync_dir(normal(root).string());
  if (had_old) remove_inside_quietly(root, aside);
}

}  // namespace sp::io
