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

#include "core/communicator.h"
#include "persist/journal_contents.h"
#include "persist/journal_writer.h"
#include "prune/progress_store.h"

namespace sp::persist {

class Journal : public prune::ProgressStore {
 public:
  using Dependencies = std::map<std::string, std::string>;
  // Opens <dir>/.journal. resume = false: any old journal is removed and `writer` starts a new one.
  // resume = true: an existing journal is read and its inputs compared with `inputs` (InputError
  // listing every key that changed), then validated against `expect`; none there: a fresh start (logged).
  Journal(const std::string& dir, const Dependencies& inputs, bool resume, bool writer, JournalExpect expect);

  // What this rank read (pass 1 done, layers done, the inputs' digest): equal on every rank of a run.
  std::string summary() const { return found_.summary(); }
  // Whether this process still writes the journal (false on other ranks and after a failed write).
  bool writing() const { return writer_ && writer_->on(); }

  const std::optional<Pass1Record>& pass1() const override { return found_.pass1(); }
  int layers_done() const override { return found_.layers_done(); }
  LayerRecord layer(int l, ExecContext& ctx) const override;

  void save_pass1(const Pass1Record& p) override;
  // Layers in order. The files are written by a background thread while the next layer is pruned
  // (one write in flight; a failure turns the journal off at the next save_layer, flush or remove).
  void save_layer(const LayerRecord& r) override;
  void flush() override;  // waits for the write in flight
  void remove();          // after the outputs are final (writer only)
  std::string path() const override { return found_.dir(); }

 private:
  JournalContents found_;                // what an interrupted run left (empty without one)
  std::optional<JournalWriter> writer_;  // rank 0's
};

// Whether <dir> holds the journal of an interrupted run (for the checks before a run).
bool journal_exists(const std::string& dir);

// Every rank must have read the same journal (pass 1, layers done, inputs digest): a rank on a node
// that sees another state of output.dir would replay other layers. InputError naming the ranks
// otherwise. Collective; called right after opening the journal, before the prune's collectives.
void require_same_journal(Communicator& comm, const Journal& j);

}  // namespace sp::persist
