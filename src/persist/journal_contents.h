#pragma once
// What the journal of an interrupted run holds (persist/journal.h), read and validated when a resume
// opens it, before anything is written: its inputs against this run's, pass 1 and every finished
// layer (persist/journal_read.h). Every rank reads; the contents do not change while the run goes on.
#include <map>
#include <optional>
#include <string>

#include "persist/journal_read.h"

namespace sp::persist {

class JournalContents {
 public:
  // dir: the journal folder. resume = false, or no journal there: empty (a resume says so in the log).
  JournalContents(std::string dir, const std::map<std::string, std::string>& inputs, bool resume,
                  JournalExpect expect);

  bool found() const { return found_; }  // a journal was there and is resumed
  const std::optional<Pass1Record>& pass1() const { return pass1_; }
  int layers_done() const { return layers_done_; }
  // Layer l, validated; its weights copied to *to (null: validation only, no weights).
  LayerRecord layer(int l, const Device* to) const;
  // Pass 1 done, layers done, the inputs' digest: equal on every rank of a run.
  std::string summary() const;
  const std::string& dir() const { return dir_; }

 private:
  std::string dir_;
  uint64_t inputs_digest_ = 0;
  JournalExpect expect_;
  bool found_ = false;
  std::optional<Pass1Record> pass1_;
  int layers_done_ = 0;
};

}  // namespace sp::persist
