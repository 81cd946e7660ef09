// One run per output folder (io/output_lock.h): a live owner refuses the next run (BusyError naming
// host and PID), a dead owner of this host is taken over, another host's lock never is (the error
// says how to remove it), and the lock goes when its owner releases it.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "io/output_lock.h"
#include "test_util.h"

namespace sp::io {
namespace {
namespace fs = std::filesystem;

std::string temp_dir(const std::string& tag) {
  const fs::path p = fs::temp_directory_path() / fmt::format("sp_lock_{}_{}", tag, ::getpid());
  fs::remove_all(p);
  return p.string();
}

std::string read(const std::string& p) {
  std::ifstream in(p);
  return {std::istreambuf_iterator<char>(in), {}};
}
void write(const std::string& p, const std::string& s) { std::ofstream(p) << s; }

template <typename F>
std::string busy(F&& f) {
  return test::error_of<BusyError>(std::forward<F>(f));
}

// A PID that provably no longer runs: a child that has exited and been reaped.
long dead_pid() {
  const pid_t c = ::fork();
  if (c == 0) ::_exit(0);
  int status = 0;
  ::waitpid(c, &status, 0);
  return long(c);
}

TEST(OutputLock, ALiveOwnerRefusesTheNextRunNamingItself) {
  const std::string dir = temp_dir("live");
  {
    OutputLock first(dir);
    const auto owner = LockOwner::parse(read(OutputLock::lock_path(dir)));
    ASSERT_TRUE(owner.has_value());
    EXPECT_EQ(owner->pid, long(::getpid()));
    EXPECT_EQ(owner->host, LockOwner::self().host);
    EXPECT_FALSE(owner_gone(*owner));
    const std::string e = busy([&] { OutputLock second(dir); });
    EXPECT_NE(e.find(fmt::format("host {}, PID {}", owner->host, ::getpid())), std::string::npos) << e;
    EXPECT_EQ(read(OutputLock::lock_path(dir)), LockOwner::self().text()) << "the refused run touched the lock";
  }
  EXPECT_FALSE(fs::exists(OutputLock::lock_path(dir))) << "not released";
  EXPECT_FALSE(fs::exists(dir)) << "the folder the lock created was left behind empty";
  OutputLock again(dir);  // free again
}

TEST(OutputLock, ADeadOwnerOfThisHostIsTakenOver) {
  const std::string dir = temp_dir("stale");
  fs::create_directories(dir);
  write(dir + "/keep.txt", "earlier output");
  LockOwner dead = LockOwner::self();
  dead.pid = dead_pid();
  dead.start = 0;
  write(OutputLock::lock_path(dir), dead.text());
  EXPECT_TRUE(owner_gone(dead));
  {
    OutputLock lock(dir);
    EXPECT_EQ(read(OutputLock::lock_path(dir)), LockOwner::self().text());
  }
  EXPECT_FALSE(fs::exists(OutputLock::lock_path(dir)));
  EXPECT_EQ(read(dir + "/keep.txt"), "earlier output");
  EXPECT_EQ(std::distance(fs::directory_iterator(dir), fs::directory_iterator()), 1) << "stray files";
  fs::remove_all(dir);
}

// A killed run's process may stay a zombie (a container whose PID 1 reaps nothing): it has exited.
TEST(OutputLock, AZombieOwnerIsGone) {
  const pid_t c = ::fork();
  if (c == 0) ::_exit(0);
  ::usleep(200000);  // exited, not reaped
  LockOwner z = LockOwner::self();
  z.pid = long(c);
  z.start = 0;
  EXPECT_TRUE(owner_gone(z));
  int status = 0;
  ::waitpid(c, &status, 0);
}

TEST(OutputLock, AReusedPidOrAnotherBootIsGone) {
  LockOwner me = LockOwner::self();
  if (me.start == 0 || me.boot.empty()) GTEST_SKIP() << "no /proc start times or boot id here";
  LockOwner reused = me;
  reused.start = me.start + 1;  // the PID lives, but it is not the process that wrote the lock
  EXPECT_TRUE(owner_gone(reused));
  LockOwner rebooted = me;
  rebooted.boot = "another-boot";
  EXPECT_TRUE(owner_gone(rebooted));
  EXPECT_FALSE(owner_gone(me));
}

TEST(OutputLock, AnotherHostsLockIsNeverTakenOver) {
  const std::string dir = temp_dir("remote");
  fs::create_directories(dir);
  LockOwner remote;
  remote.host = "some-other-node";
  remote.pid = dead_pid();  // dead here, which says nothing about that host
  const std::string text = remote.text();
  write(OutputLock::lock_path(dir), text);
  const std::string e = busy([&] { OutputLock lock(dir); });
  EXPECT_NE(e.find("a run on host some-other-node (PID"), std::string::npos) << e;
  EXPECT_NE(e.find("rm " + OutputLock::lock_path(dir)), std::string::npos) << e;
  EXPECT_EQ(read(OutputLock::lock_path(dir)), text);
  // Unreadable contents are no proof either.
  write(OutputLock::lock_path(dir), "garbage");
  EXPECT_NE(busy([&] { OutputLock lock(dir); }).find("an owner it does not name"), std::string::npos);
  fs::remove_all(dir);
}

TEST(OutputLock, AFileInPlaceOfTheFolderIsAnInputError) {
  const std::string dir = temp_dir("file");
  write(dir, "x");
  EXPECT_THROW(OutputLock lock(dir), InputError);
  fs::remove(dir);
}

}  // namespace
}  // namespace sp::io
