#pragma once
// Failures of the files a run writes, sorted by whose they are (docs/cli.md "Exit status"):
//  * the environment (a full disk or quota, a file-size limit, an I/O error): IoError, exit 74,
//    naming the path and, when known, the bytes the file needs;
//  * a path the user chose that cannot be created (no permission, a parent that is a file, a
//    read-only filesystem): InputError, exit 2.
#include <cstdint>
#include <string>

namespace sp::io {

// True for errno values that say the environment failed, not the path (ENOSPC, EDQUOT, EFBIG, EIO, ...).
bool is_environment_errno(int err);

// Creating `file` (a temporary of the output `shown`) failed with `err`.
[[noreturn]] void throw_create_error(int err, const std::string& shown, const std::string& file);

// Writing, flushing, closing or renaming the output `shown` failed with `err` (`what`: "write",
// "fsync", ...). `needed` > 0: the bytes the file needs in all; `written`: how many got there.
[[noreturn]] void throw_write_error(int err, const std::string& shown, const char* what, int64_t needed = -1,
                                    int64_t written = -1);

// Renaming the finished temporary `from` over the output `to` failed with `err`: IoError for the
// environment, InputError when the final name is taken by something that cannot be replaced (a folder).
[[noreturn]] void throw_rename_error(int err, const std::string& to, const std::string& from);

}  // namespace sp::io
