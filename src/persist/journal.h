#pragma once
// The resume journal of a pruning run: <output.dir>/.journal/ records what a killed run finished, so
// that `--resume` continues at the next layer and ends with the outputs of an uninterrupted run.
//   inputs.json             what the run depends on (config keys, checkpoint identity, token digests);
//                           a resume whose inputs differ is refused, naming each difference
//   pass1.json              pass 1 and the allocation: removed groups per block, lambda, residuals,
//                           perplexity before, their seconds (doubles as exact decimal round trips)
//   layer_NNNNN.safetensors the pruned layer's weights in the output dtype (the pruned model runs on
//                           exactly these) and its keep masks and scores; the weights that are a plain
//                           selection of the dense layer's (the producers when they were not refit,
//                           about two thirds of the layer) are left out, named in the record as derived
//   layer_NNNNN.json        the rest of the layer's record; written last, so it marks the layer done
// Resuming replays the finished layers from their weights (pass 2's hidden states after a layer
// depend only on them), re-emits them to the sink and prunes the rest. Every file is written
// atomically by rank 0 (layers by a background thread); every rank reads. The journal is removed
// once the outputs are final.
// Reading treats the files as untrusted (persist/journal_read.h): a resume validates inputs.json,
// pass1.json and every finished layer when it opens the journal, before anything is written, and
// refuses a damaged or foreign journal ("journal is damaged: <file>: <what>", InputError), leaving
// it as it is. A journal that cannot be written (disk full, permissions) turns itself off with one
// warning and is removed: the prune goes on without it, and a later --resume starts over.
#include <map>
#include <optional>
#include <string>
#include <thread>

#include "core/device.h"
#include "persist/journal_read.h"
#include "prune/pipeline.h"
#include "prune/progress_store.h"

namespace sp::persist {

class Journal : public prune::ProgressStore {
 public:
  using Dependencies = std::map<std::string, std::string>;
  // Opens <dir>/.journal. resume = false: any old journal is removed and `writer` starts a new one.
  // resume = true: an existing journal is read and its inputs compared with `inputs` (InputError
  // listing every key that changed), then validated against `expect`; none there: a fresh start (logged).
  Journal(std::string dir, Dependencies inputs, bool resume, bool writer, JournalExpect expect);
  // A journal without progress (pass 1 unfinished) is removed: a run that failed early leaves nothing.
  ~Journal();
  Journal(const Journal&) = delete;
  Journal& operator=(const Journal&) = delete;

  // Whether <dir> holds the journal of an interrupted run (for the checks before a run).
  static bool exists(const std::string& dir);

  // What this rank read (pass 1 done, layers done, the inputs' digest): equal on every rank of a run.
  std::string summary() const;
  // Whether this process still writes the journal (false on other ranks and after a failed write).
  bool writing() const { return writer_; }

  const std::optional<Pass1Record>& pass1() const override { return pass1_; }
  int layers_done() const override { return layers_done_; }
  LayerRecord layer(int l, ExecContext& ctx) const override;

  void save_pass1(const Pass1Record& p) override;
  // Layers in order. The files are written by a background thread while the next layer is pruned
  // (one write in flight; a failure turns the journal off at the next save_layer, flush or remove).
  void save_layer(const LayerRecord& r) override;
  void flush() override;  // waits for the write in flight
  void remove();          // after the outputs are final (writer only)
  std::string path() const override { return dir_; }

 private:
  std::string file(const std::string& name) const;
  // Layer l, validated; its weights copied to *to (null: validation only, no weights).
  LayerRecord read_layer(int l, const Device* to) const;
  void disable(const std::string& what);  // a write failed: warn once, remove the journal, write no more
  std::string dir_;
  Dependencies inputs_;
  JournalExpect expect_;
  bool writer_ = false;
  std::optional<Pass1Record> pass1_;
  int layers_done_ = 0;
  std::thread pending_;
  StagingBuffer staging_;      // the host copy of the layer being written (reused: one write in flight)
  std::string pending_error_;  // what the write in flight failed with
};

// Every rank must have read the same journal (pass 1, layers done, inputs digest): a rank on a node
// that sees another state of output.dir would replay other layers. InputError naming the ranks
// otherwise. Collective; called right after opening the journal, before the prune's collectives.
void require_same_journal(Communicator& comm, const Journal& j);

}  // namespace sp::persist
