#pragma once
// Rank 0's side of the resume journal (persist/journal.h): writes pass1.json and the layer files
// atomically, the layers on a background thread (one write in flight). A write that fails (disk full,
// permissions) turns the writer off with one warning and removes the journal: the prune goes on.
#include <map>
#include <string>
#include <thread>

#include "core/device.h"
#include "prune/progress_store.h"

namespace sp::persist {

class JournalWriter {
 public:
  // dir: the journal folder. fresh: any old journal there is removed and a new one started with
  // `inputs` (inputs.json); otherwise the writer adds to the journal a resume has validated.
  JournalWriter(std::string dir, const std::map<std::string, std::string>& inputs, bool fresh);
  // A journal without progress (pass 1 unfinished) is removed: a run that failed early leaves nothing.
  ~JournalWriter();
  JournalWriter(const JournalWriter&) = delete;
  JournalWriter& operator=(const JournalWriter&) = delete;

  bool on() const { return on_; }  // false once a write failed
  void save_pass1(const prune::Pass1Record& p);
  // Host copies now, the files on the background thread (a failure is seen at the next call).
  void save_layer(const prune::LayerRecord& r);
  void flush();   // waits for the write in flight
  void remove();  // after the outputs are final

 private:
  std::string file(const std::string& name) const;
  void disable(const std::string& what);  // warn once, remove the journal, write no more
  std::string dir_;
  bool on_ = true;
  std::thread pending_;
  StagingBuffer staging_;      // the host copy of the layer being written (reused: one write in flight)
  std::string pending_error_;  // what the write in flight failed with
};

}  // namespace sp::persist
