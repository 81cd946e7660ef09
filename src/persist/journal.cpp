#include "persist/journal.h"

#include <filesystem>
#include <utility>
#include <vector>

#include "core/error.h"

namespace sp::persist {
namespace fs = std::filesystem;

Journal::Journal(const std::string& dir, const Dependencies& inputs, bool resume, bool writer, JournalExpect expect)
    : found_((fs::path(dir) / ".journal").string(), inputs, resume, std::move(expect)) {
  if (writer) writer_.emplace(found_.dir(), inputs, /*fresh=*/!found_.found());
}

bool journal_exists(const std::string& dir) {
  std::error_code ec;
  return fs::exists(fs::path(dir) / ".journal" / "inputs.json", ec);
}

void require_same_journal(Communicator& comm, const Journal& j) {
  if (comm.size() < 2) return;
  const std::vector<std::string> seen = comm.allgather(j.summary());
  for (size_t r = 1; r < seen.size(); ++r)
    SP_REQUIRE(seen[r] == seen[0],
               "the ranks see different resume journals in {}: rank 0: {}; rank {}: {}. output.dir must be one "
               "folder that every rank sees alike (a shared filesystem)",
               j.path(), seen[0], r, seen[r]);
}

LayerRecord Journal::layer(int l, ExecContext& ctx) const {
  const Device d = ctx.device();
  return found_.layer(l, &d);
}

void Journal::save_pass1(const Pass1Record& p) {
  if (writer_) writer_->save_pass1(p);
}

void Journal::save_layer(const LayerRecord& r) {
  if (writer_) writer_->save_layer(r);
}

void Journal::flush() {
  if (writer_) writer_->flush();
}

void Journal::remove() {
  if (writer_) writer_->remove();
}

}  // namespace sp::persist
