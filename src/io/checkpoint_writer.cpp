// write_sharded_checkpoint (see checkpoint.h): the streaming writer fed from a vector, so both
// share one code path (layout, atomicity, removal of an earlier layout: checkpoint_stream.h).
#include "io/checkpoint.h"
#include "io/checkpoint_stream.h"

namespace sp::io {

std::vector<std::string> write_sharded_checkpoint(const std::string& model_dir,
                                                  const std::vector<std::pair<std::string, Tensor>>& tensors,
                                                  size_t max_shard_bytes) {
  CheckpointStreamWriter writer(model_dir, max_shard_bytes);
  for (const auto& [name, t] : tensors) writer.add(name, t);
  return writer.finish();
}

}  // namespace sp::io
