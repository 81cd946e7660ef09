#pragma once
// A Hugging Face checkpoint written tensor by tensor, so the pruning pipeline, which produces one
// decoder layer at a time, never holds the whole model in memory.
//
// add() copies the tensor to host memory at once. Tensors are buffered until adding the next one
// would make the pending shard exceed max_shard_bytes (a tensor larger than the limit gets a shard
// of its own); the pending shard is then written, atomically, to a temporary in model_dir,
// ".shard-NNNNN.safetensors.partial" (NNNNN = 1-based shard number, 5 digits), a name no reader
// takes for a weight file, on a background thread (one shard in flight, so the pipeline computes
// the next layers meanwhile; host memory holds at most two shards). A failed write is thrown by the
// next call that starts a shard, or by finish(). finish() writes the last shard and renames the
// temporaries:
//  * one shard  -> model.safetensors (no index);
//  * n shards   -> model-0000i-of-0000n.safetensors, then model.safetensors.index.json
//    {"metadata": {"total_size": bytes}, "weight_map": {name: shard}}, written last.
// Before renaming n > 1 shards, finish() removes an earlier model.safetensors and index (readers
// would prefer the old single file, and an old index must not name a shard just replaced); at the
// end, every other weight file of an earlier layout (model.safetensors, the index,
// model-*-of-*.safetensors) and any ".shard-*.safetensors.partial" left by a killed writer are
// removed. So a reader sees the old complete set, the new one, or no loadable layout, never a mix.
// Other files (config.json, tokenizer) are kept. Shards carry {"format": "pt"} metadata.
//
// Destroyed without finish() (an exception, an abort of the run), the writer removes its
// temporaries and no final name is touched; a model_dir it created is removed if left empty.
// Greedy in add() order, so a layer's tensors stay together and the shard boundaries match
// write_sharded_checkpoint's (which is this writer fed from a vector).
#include <cstddef>
#include <exception>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "core/tensor.h"

namespace sp::io {

class CheckpointStreamWriter {
 public:
  // Creates model_dir (and its parents) if needed; InputError naming it if that fails or if
  // max_shard_bytes is 0.
  CheckpointStreamWriter(std::string model_dir, size_t max_shard_bytes);
  ~CheckpointStreamWriter();
  CheckpointStreamWriter(const CheckpointStreamWriter&) = delete;
  CheckpointStreamWriter& operator=(const CheckpointStreamWriter&) = delete;

  // t: any shape, dtype and device; its bytes are copied now, so the caller may reuse t's memory.
  // A duplicate, empty or reserved ("__metadata__") name, or an undefined tensor, is an InputError.
  void add(const std::string& name, const Tensor& t);
  // Writes what is pending, renames, writes the index; returns the files written (shards in
  // order, then the index if any). Call once; an empty writer gives an empty model.safetensors.
  std::vector<std::string> finish();

  size_t pending_bytes() const { return pending_bytes_; }   // bytes buffered, not yet handed to the writer
  size_t shards_written() const { return shards_.size(); }  // temporaries started so far
  void wait();  // until the shard in flight is on disk; throws its write's error

 private:
  struct Shard {
    std::string tmp;                 // ".shard-NNNNN.safetensors.partial" in dir_
    std::vector<std::string> names;  // tensors it holds
  };
  void flush();  // hands the pending tensors to the background write of the next shard's temporary
  void remove_temporaries() noexcept;

  std::string dir_;
  size_t max_shard_bytes_;
  bool created_dir_ = false;
  bool finished_ = false;
  std::vector<std::pair<std::string, Tensor>> pending_;  // host copies
  size_t pending_bytes_ = 0;
  std::vector<Shard> shards_;
  std::set<std::string> names_;
  size_t total_bytes_ = 0;
  std::thread in_flight_;           // the write of shards_.back(), if not joined yet
  std::exception_ptr write_error_;  // what that write threw
};

}  // namespace sp::io
