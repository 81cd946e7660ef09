// io/output_paths.h: the single-name rule of the config's output names, removals confined to a
// root (lexically and through symbolic links), and the folder swap that loses neither folder when
// its second rename fails. Every check looks at the files themselves, not at return values only.
#include <gtest/gtest.h>

#include <cerrno>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "core/error.h"
#include "io/atomic_file.h"
#include "io/output_paths.h"
#include "io/write_error.h"
#include "io_test_util.h"

namespace sp::io {
namespace {
namespace fs = std::filesystem;
using test::ScratchDir;

void put(const std::string& path, const std::string& text) {
  fs::create_directories(fs::path(path).parent_path());
  std::ofstream(path) << text;
}
std::string get(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

TEST(OutputPaths, SingleNames) {
  for (const char* ok : {"model", "masks.h5", "report.json", "a..b", "x y", "wikitext2", "model."})
    EXPECT_EQ(single_name_problem(ok), "") << ok;
  EXPECT_NE(single_name_problem("..x"), "") << "hidden names are the tool's own";
  for (const std::string& bad : {std::string(""), std::string("."), std::string(".."), std::string("a/b"),
                                std::string("/abs"), std::string("a\\b"), std::string("../x"), std::string("x/"),
                                std::string("a\0b", 3), std::string(".journal"), std::string(".hidden")})
    EXPECT_NE(single_name_problem(bad), "") << bad;
}

TEST(OutputPaths, StrictlyInside) {
  ScratchDir d;
  const std::string root = d / "out";
  fs::create_directories(root);
  fs::create_directories(d / "keepme");
  EXPECT_TRUE(strictly_inside(root, root + "/model"));
  EXPECT_TRUE(strictly_inside(root, root + "/a/b"));
  EXPECT_TRUE(strictly_inside(root + "/", root + "/model/"));
  EXPECT_TRUE(strictly_inside(root, root + "/not-yet/there"));
  EXPECT_FALSE(strictly_inside(root, root));
  EXPECT_FALSE(strictly_inside(root, root + "/"));
  EXPECT_FALSE(strictly_inside(root, root + "/."));
  EXPECT_FALSE(strictly_inside(root, root + "/.."));
  EXPECT_FALSE(strictly_inside(root, root + "/../keepme"));
  EXPECT_FALSE(strictly_inside(root, root + "/a/../../keepme"));
  EXPECT_FALSE(strictly_inside(root, d / "outside"));  // a sibling whose name starts like the root's
  EXPECT_FALSE(strictly_inside(root, d / "keepme"));
  EXPECT_FALSE(strictly_inside(root, "/"));
  EXPECT_FALSE(strictly_inside(root, ""));
  EXPECT_FALSE(strictly_inside("", root + "/x"));
  // A folder inside the root that links outside: what lies behind the link is not inside.
  fs::create_directory_symlink(d / "keepme", root + "/link");
  EXPECT_FALSE(strictly_inside(root, root + "/link/file.txt"));
  EXPECT_TRUE(strictly_inside(root, root + "/link"));  // the link itself is (removing it removes the link)
  // A root reached through a link: the same folder either way.
  fs::create_directory_symlink(root, d / "alias");
  EXPECT_TRUE(strictly_inside(d / "alias", root + "/model"));
  EXPECT_TRUE(strictly_inside(root, d / "alias/model"));
  // Relative paths resolve against the current folder.
  const fs::path cwd = fs::current_path();
  fs::current_path(d.str());
  EXPECT_TRUE(strictly_inside("out", "out/model"));
  EXPECT_FALSE(strictly_inside("out", "out/../keepme"));
  fs::current_path(cwd);
}

TEST(OutputPaths, RemoveInsideRefusesEverythingElse) {
  ScratchDir d;
  const std::string root = d / "parent/out";
  put(d / "parent/keepme/file.txt", "theirs");
  put(root + "/model/a.bin", "old");
  // The reproducer of issue 25: output.model_dir = "..".
  EXPECT_THROW(remove_inside(root, root + "/.."), RuntimeFailure);
  EXPECT_THROW(remove_inside(root, root + "/../keepme"), RuntimeFailure);
  EXPECT_THROW(remove_inside(root, root), RuntimeFailure);
  EXPECT_FALSE(remove_inside_quietly(root, root + "/.."));
  fs::create_directory_symlink(d / "parent/keepme", root + "/link");
  EXPECT_THROW(remove_inside(root, root + "/link/file.txt"), RuntimeFailure);
  EXPECT_EQ(get(d / "parent/keepme/file.txt"), "theirs");
  // A link inside is removed as a link: its target stays.
  EXPECT_TRUE(remove_inside(root, root + "/link"));
  EXPECT_FALSE(fs::exists(fs::symlink_status(root + "/link")));
  EXPECT_EQ(get(d / "parent/keepme/file.txt"), "theirs");
  EXPECT_TRUE(remove_inside(root, root + "/model"));
  EXPECT_FALSE(fs::exists(root + "/model"));
  EXPECT_TRUE(fs::is_directory(root));
  EXPECT_FALSE(remove_inside(root, root + "/model"));  // nothing left to remove
}

// Three states of a swap, read from the files: the final folder's marker, and what else is in root.
struct Swap {
  ScratchDir d;
  std::string root = d / "out", fresh = d / "out/.model.tmp.1", target = d / "out/model";
  Swap() {
    put(fresh + "/weights", "new");
    put(target + "/weights", "old");
    put(d / "keepme/file.txt", "theirs");
  }
};

TEST(OutputPaths, ReplaceFolderSwaps) {
  Swap s;
  replace_folder(s.root, s.fresh, s.target);
  EXPECT_EQ(get(s.target + "/weights"), "new");
  EXPECT_EQ(test::listing(s.root), std::vector<std::string>{"model"});  // the old one and the temporary gone
  EXPECT_EQ(get(s.d / "keepme/file.txt"), "theirs");
  // Without a previous folder: a plain move.
  put(s.root + "/.other.tmp.1/w", "x");
  replace_folder(s.root, s.root + "/.other.tmp.1", s.root + "/other");
  EXPECT_EQ(get(s.root + "/other/w"), "x");
}

TEST(OutputPaths, ReplaceFolderLosesNeitherWhenTheSecondRenameFails) {
  Swap s;
  int calls = 0;
  const RenameOp second_fails = [&](const char* a, const char* b) {
    if (++calls == 2) {
      errno = EXDEV;  // as a move across filesystems would
      return -1;
    }
    return std::rename(a, b);
  };
  try {
    replace_folder(s.root, s.fresh, s.target, second_fails);
    ADD_FAILURE() << "no error";
  } catch (const IoError& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find(s.target), std::string::npos) << m;
    EXPECT_NE(m.find("previous folder is back in place"), std::string::npos) << m;
  }
  EXPECT_EQ(calls, 3);  // aside, in (failed), back
  EXPECT_EQ(get(s.target + "/weights"), "old");
  EXPECT_EQ(get(s.fresh + "/weights"), "new");
  EXPECT_EQ(test::listing(s.root), (std::vector<std::string>{".model.tmp.1", "model"}));

  // The first rename failing replaces nothing.
  calls = 0;
  const RenameOp first_fails = [&](const char*, const char*) {
    ++calls;
    errno = EACCES;
    return -1;
  };
  EXPECT_THROW(replace_folder(s.root, s.fresh, s.target, first_fails), IoError);
  EXPECT_EQ(get(s.target + "/weights"), "old");
  EXPECT_EQ(get(s.fresh + "/weights"), "new");

  // Without injection: a `fresh` that is not there fails the second rename for real.
  EXPECT_THROW(replace_folder(s.root, s.root + "/.gone.tmp.1", s.target), IoError);
  EXPECT_EQ(get(s.target + "/weights"), "old");
  EXPECT_EQ(test::listing(s.root), (std::vector<std::string>{".model.tmp.1", "model"}));
}

TEST(OutputPaths, ReplaceFolderRefusesOutsideTheRoot) {
  Swap s;
  EXPECT_THROW(replace_folder(s.root, s.fresh, s.root + "/.."), RuntimeFailure);
  EXPECT_THROW(replace_folder(s.root, s.fresh, s.d / "keepme"), RuntimeFailure);
  EXPECT_EQ(get(s.d / "keepme/file.txt"), "theirs");
  EXPECT_EQ(get(s.fresh + "/weights"), "new");
}

// A full disk is the environment's failure (IoError, exit 74), naming the path and the bytes.
TEST(OutputPaths, WriteErrorsAreIoErrors) {
  try {
    throw_write_error(ENOSPC, "/o/x.bin", "write", 1000, 400);
  } catch (const IoError& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("/o/x.bin: write failed: No space left on device"), std::string::npos) << m;
    EXPECT_NE(m.find("600 more bytes needed"), std::string::npos) << m;
  }
  EXPECT_THROW(throw_create_error(ENOSPC, "/o/x", "/o/x.tmp"), IoError);
  EXPECT_THROW(throw_create_error(ENOTDIR, "/o/x", "/o/x.tmp"), InputError);
  EXPECT_THROW(throw_create_error(EACCES, "/o/x", "/o/x.tmp"), InputError);
}

// AtomicFile never writes through a link planted under its temporary name.
TEST(OutputPaths, AtomicFileDoesNotFollowAPlantedLink) {
  ScratchDir d;
  put(d / "victim.txt", "theirs");
  fs::create_directories(d / "out");
  const std::string path = d / "out/report.json";
  fs::create_symlink(d / "victim.txt", fmt::format("{}.tmp.{}", path, ::getpid()));
  write_file_atomic(path, "ours");
  EXPECT_EQ(get(path), "ours");
  EXPECT_EQ(get(d / "victim.txt"), "theirs");
}

}  // namespace
}  // namespace sp::io
