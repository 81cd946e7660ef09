#include "io/output_lock.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <utility>

#include "core/error.h"
#include "core/log.h"

namespace sp::io {
namespace fs = std::filesystem;
namespace {

std::string read_small(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string first_line(std::string s) {
  if (const size_t n = s.find('\n'); n != std::string::npos) s.resize(n);
  return s;
}

std::string host_name() {
  char b[256] = {};
  if (::gethostname(b, sizeof b - 1) != 0) return "unknown-host";
  return b;
}

std::string boot_id() { return first_line(read_small("/proc/sys/kernel/random/boot_id")); }

// Field 3 of /proc/<pid>/stat: the state ('Z' zombie: it has exited, only its parent has not reaped
// it; 0: unknown).
char proc_state(long pid) {
  const std::string s = read_small(fmt::format("/proc/{}/stat", pid));
  const size_t p = s.rfind(')');
  return p == std::string::npos || p + 2 >= s.size() ? 0 : s[p + 2];
}

// Field 22 of /proc/<pid>/stat: when the process started, in clock ticks after boot (0: unknown).
unsigned long long start_ticks(long pid) {
  const std::string s = read_small(fmt::format("/proc/{}/stat", pid));
  const size_t p = s.rfind(')');  // the command name may hold spaces and parentheses
  if (p == std::string::npos || p + 2 > s.size()) return 0;
  std::istringstream in(s.substr(p + 2));
  std::string field;
  for (int i = 3; i < 22 && in >> field; ++i) {
  }
  unsigned long long t = 0;
  return in >> t ? t : 0;
}

// The held lock's path for the signal handler (async-signal-safe: unlink and sigaction only).
char g_path[4096];
volatile sig_atomic_t g_held = 0;
constexpr int kSignals[] = {SIGTERM, SIGINT, SIGHUP};
struct sigaction g_old[3];
bool g_installed[3] = {false, false, false};

extern "C" void remove_lock_on_signal(int sig) {
  if (g_held) ::unlink(g_path);
  g_held = 0;
  for (int i = 0; i < 3; ++i)
    if (kSignals[i] == sig) ::sigaction(sig, &g_old[i], nullptr);
  ::raise(sig);  // pending until this handler returns; then the previous disposition acts
}

void install_handlers(const std::string& path) {
  if (path.size() >= sizeof g_path) return;  // no signal-time cleanup; a same-host run still takes it over
  std::memcpy(g_path, path.c_str(), path.size() + 1);
  g_held = 1;
  for (int i = 0; i < 3; ++i) {
    struct sigaction old {};
    if (::sigaction(kSignals[i], nullptr, &old) != 0 || old.sa_handler == SIG_IGN) continue;
    struct sigaction sa {};
    sa.sa_handler = remove_lock_on_signal;
    sigemptyset(&sa.sa_mask);
    if (::sigaction(kSignals[i], &sa, &g_old[i]) == 0) g_installed[i] = true;
  }
}

void remove_handlers() {
  g_held = 0;
  for (int i = 0; i < 3; ++i)
    if (std::exchange(g_installed[i], false)) ::sigaction(kSignals[i], &g_old[i], nullptr);
}

// A folder the user named that cannot hold files (a path through a file, no permission, a read-only
// filesystem) is their input's fault (exit 2); anything else is the environment's (exit 74).
[[noreturn]] void cannot_write(const std::string& what, int err) {
  const std::string m = fmt::format("{}: {}", what, std::strerror(err));
  if (err == ENOTDIR || err == EEXIST || err == EACCES || err == EPERM || err == EROFS || err == ENAMETOOLONG ||
      err == ELOOP || err == EISDIR)
    throw InputError(m);
  throw IoError(m);
}

}  // namespace

std::string LockOwner::text() const {
  return fmt::format("struprune-dist output lock\nhost {}\npid {}\nboot {}\nstart {}\n", host, pid, boot, start);
}

std::optional<LockOwner> LockOwner::parse(const std::string& text) {
  LockOwner o;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    const size_t sp = line.find(' ');
    if (sp == std::string::npos) continue;
    const std::string key = line.substr(0, sp), value = line.substr(sp + 1);
    try {
      if (key == "host") o.host = value;
      if (key == "pid") o.pid = std::stol(value);
      if (key == "boot") o.boot = value;
      if (key == "start") o.start = std::stoull(value);
    } catch (const std::exception&) {
      return std::nullopt;
    }
  }
  if (o.host.empty() || o.pid <= 0) return std::nullopt;
  return o;
}

LockOwner LockOwner::self() {
  LockOwner o;
  o.host = host_name();
  o.pid = long(::getpid());
  o.boot = boot_id();
  o.start = start_ticks(o.pid);
  return o;
}

bool owner_gone(const LockOwner& o) {
  if (::kill(pid_t(o.pid), 0) != 0 && errno == ESRCH) return true;
  if (const char st = proc_state(o.pid); st == 'Z' || st == 'X') return true;  // exited, not yet reaped
  const std::string boot = boot_id();
  if (!o.boot.empty() && !boot.empty() && o.boot != boot) return true;  // the host rebooted since
  if (o.start != 0) {
    const unsigned long long now = start_ticks(o.pid);
    if (now != 0 && now != o.start) return true;  // the PID now names another process
  }
  return false;
}

std::string OutputLock::lock_path(const std::string& dir) { return (fs::path(dir) / ".lock").string(); }

OutputLock::OutputLock(const std::string& dir) : dir_(dir), path_(lock_path(dir)), me_(LockOwner::self()) {
  std::error_code ec;
  if (fs::exists(dir, ec)) {
    SP_REQUIRE(fs::is_directory(dir, ec), "output.dir {} is not a folder", dir);
  } else {
    created_dir_ = fs::create_directories(dir, ec);
    if (ec) cannot_write(fmt::format("output.dir {}: cannot create the folder", dir), ec.value());
  }
  // The complete record first, under a name of its own; link(2) then publishes it or fails with EEXIST.
  const std::string tmp = fmt::format("{}.{}.{}", path_, me_.host, me_.pid);
  const std::string text = me_.text();
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  const bool written = fd >= 0 && ::write(fd, text.data(), text.size()) == ssize_t(text.size());
  const int write_errno = errno;
  if (fd >= 0) ::close(fd);
  if (!written) {
    ::unlink(tmp.c_str());
    if (created_dir_) fs::remove(dir, ec);
    cannot_write(fmt::format("{}: cannot write the output folder's lock", tmp), write_errno);
  }
  for (int attempt = 0; attempt < 5; ++attempt) {
    const int rc = ::link(tmp.c_str(), path_.c_str());
    const int err = errno;
    struct stat st {};
    // NFS: a link whose reply was lost may have succeeded all the same (two names on the inode).
    if (rc == 0 || (::stat(tmp.c_str(), &st) == 0 && st.st_nlink == 2)) {
      ::unlink(tmp.c_str());
      install_handlers(path_);
      return;
    }
    if (err != EEXIST) {
      ::unlink(tmp.c_str());
      if (created_dir_) fs::remove(dir, ec);
      cannot_write(fmt::format("{}: cannot create the output folder's lock", path_), err);
    }
    const std::string held = read_small(path_);
    const std::optional<LockOwner> owner = LockOwner::parse(held);
    if (!owner && !fs::exists(path_, ec)) continue;  // released meanwhile
    if (!owner || owner->host != me_.host) {
      ::unlink(tmp.c_str());
      const std::string who =
          owner ? fmt::format("a run on host {} (PID {})", owner->host, owner->pid) : "an owner it does not name";
      throw BusyError(fmt::format(
          "output.dir {} is locked by {} ({}); this host cannot tell whether that run is still alive. Wait for it "
          "to finish or choose another output.dir; if you are sure no run uses the folder, remove the lock by hand: "
          "rm {}",
          dir, who, path_, path_));
    }
    if (!owner_gone(*owner)) {
      ::unlink(tmp.c_str());
      throw BusyError(fmt::format(
          "output.dir {} is in use by a running struprune-dist (host {}, PID {}, lock {}): wait for it to finish "
          "or choose another output.dir",
          dir, owner->host, owner->pid, path_));
    }
    // Stale: move it aside, and delete it only if it is still the record judged stale (another run may
    // have taken it over and locked anew between the read and the rename; that lock goes back).
    const std::string aside = fmt::format("{}.stale.{}.{}", path_, me_.host, me_.pid);
    if (std::rename(path_.c_str(), aside.c_str()) != 0) continue;
    if (read_small(aside) == held) {
      SP_LOG_WARN("{}: took over the lock of PID {} on this host, which no longer runs", path_, owner->pid);
    } else if (::link(aside.c_str(), path_.c_str()) != 0) {
      SP_LOG_WARN("{}: could not put back a lock moved aside: {}", path_, std::strerror(errno));
    }
    ::unlink(aside.c_str());
  }
  ::unlink(tmp.c_str());
  throw BusyError(fmt::format("{}: could not take the lock: other runs keep taking it; retry later", path_));
}

OutputLock::~OutputLock() {
  remove_handlers();
  // Only this process's own record: a lock taken over by mistake is someone else's to remove.
  if (read_small(path_) == me_.text())
    ::unlink(path_.c_str());
  else
    SP_LOG_WARN("{}: the lock no longer names this process; left as it is", path_);
  std::error_code ec;
  if (created_dir_) fs::remove(dir_, ec);  // only while empty
}

}  // namespace sp::io
