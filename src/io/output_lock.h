#pragma once
// One run per output folder: <dir>/.lock names the process that writes into <dir> (host, PID, boot
// id and the PID's start time). It is created atomically with link(2) from a complete temporary file
// (atomic on NFS too, and never seen half-written), removed when its owner releases it (destructor,
// error exits included; SIGTERM / SIGINT / SIGHUP remove it before the process dies), and taken over
// only when its owner is provably gone: the same host and its PID no longer exists (or is a zombie,
// or now belongs to a process started at another time, or the host rebooted since). A lock of
// another host is never taken over: the error says how to remove it by hand.
#include <optional>
#include <string>

namespace sp::io {

struct LockOwner {
  std::string host;
  long pid = 0;
  std::string boot;              // /proc/sys/kernel/random/boot_id ("" where unknown)
  unsigned long long start = 0;  // /proc/<pid>/stat start time in clock ticks (0 where unknown)
  std::string text() const;      // the lock file's contents
  static std::optional<LockOwner> parse(const std::string& text);
  static LockOwner self();
};

// Whether `o` (a lock of this host) provably no longer runs.
bool owner_gone(const LockOwner& o);

class OutputLock {
 public:
  // Creates <dir> when absent (removed again at release while empty) and takes <dir>/.lock: throws
  // BusyError naming the owner when a live run (or another host's run) holds it, InputError when
  // <dir> is not a folder or not writable (permissions, read-only), IoError on other write failures.
  explicit OutputLock(const std::string& dir);
  ~OutputLock();  // removes the lock file if it is still this process's
  OutputLock(const OutputLock&) = delete;
  OutputLock& operator=(const OutputLock&) = delete;

  static std::string lock_path(const std::string& dir);
  const std::string& path() const { return path_; }

 private:
  std::string dir_, path_;
  bool created_dir_ = false;
  LockOwner me_;
};

}  // namespace sp::io
