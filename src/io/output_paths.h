#pragma once
// The paths a run writes and removes (issue 25: a cluster tool runs next to other people's data).
//  * Every output is one plain name directly inside output.dir (single_name_problem checks the
//    config's names before any work).
//  * Nothing outside output.dir is ever removed: every removal of the outputs goes through
//    remove_inside, which refuses (RuntimeFailure, nothing touched) a path that is not strictly
//    inside its root after lexical normalisation and after resolving the symlinks of the root and
//    of the path's parent folder. The last component is not followed: removing a symbolic link
//    removes the link, never its target.
//  * A previous model folder is replaced by a swap (replace_folder), so a failed rename loses neither
//    the old folder nor the new one.
#include <functional>
#include <string>

namespace sp::io {

// "" when `name` is one plain file or folder name: not empty, not "." or "..", no '/' or '\\', no
// NUL, and not hidden (a leading '.' is kept for the tool's own files: .journal, temporaries);
// otherwise what is wrong with it, for the caller's message naming the key.
std::string single_name_problem(const std::string& name);

// True when `path` lies strictly below `root` (see above); false for root itself and anything else.
bool strictly_inside(const std::string& root, const std::string& path);

// fsync(2) of a folder, to make the renames in it durable; a failure is not worth failing a run for.
void fsync_dir(const std::string& dir) noexcept;

// Removes `path` (a file, a link, or a folder with everything in it) when strictly inside `root`;
// anything else is refused as a bug (RuntimeFailure naming both). A removal that fails: IoError
// naming the path. Returns false when there was nothing to remove.
bool remove_inside(const std::string& root, const std::string& path);

// The same for cleanups that must not throw (destructors, leftovers of killed runs): a refused or
// failed removal is logged as a warning. Returns true when `path` is gone.
bool remove_inside_quietly(const std::string& root, const std::string& path) noexcept;

// rename(2) as replace_folder calls it (tests inject failures); 0 on success, else -1 with errno.
using RenameOp = std::function<int(const char* from, const char* to)>;

// Where replace_folder keeps the previous `target_name` folder of process `pid` during the swap.
std::string aside_name(const std::string& target_name, long pid);

// Moves the complete folder `fresh` to `target` (both strictly inside `root`). A previous `target`
// is swapped out: renamed aside (aside_name, inside root), `fresh` renamed into place, then the old
// one removed. If moving `fresh` into place fails, the old folder is renamed back and IoError is
// thrown naming both: neither is lost.
void replace_folder(const std::string& root, const std::string& fresh, const std::string& target,
                    const RenameOp& rename_op = {});

}  // namespace sp::io
