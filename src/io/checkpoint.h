#pragma once
// A Hugging Face model folder's weights: model.safetensors, or shards listed in
// model.safetensors.index.json ("weight_map": name -> shard file). Lazy: opening maps the files
// and validates headers; a tensor's bytes are read only when it is loaded, so one decoder layer
// can be brought in without touching the rest. Tracks which tensors were used so the loader can
// report any tensor that was neither used nor explicitly ignored.
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "io/safetensors.h"

namespace sp::io {

class Checkpoint {
 public:
  static std::unique_ptr<Checkpoint> open(const std::string& model_dir);

  const std::string& dir() const { return dir_; }
  bool has(const std::string& name) const;
  // Throws InputError naming the tensor and the folder (and the shard, if the index names one
  // that does not contain it).
  const TensorEntry& info(const std::string& name) const;
  // Loads a tensor converted to `dtype` on `device`. If `expect` is non-empty the shape must match
  // it exactly (error names tensor, file, expected and actual shape). Marks the tensor used.
  // Float tensors (BF16/F16/F32/F64 on disk) convert to any float dtype and must be finite (a
  // NaN/Inf is an InputError naming tensor and file); integer tensors load only as stored.
  Tensor load(const std::string& name, DType dtype, Device device, const Shape& expect = {});
  // The same, into host memory the caller owns (numel x dtype size bytes, e.g. a staging buffer):
  // a plain copy when the stored dtype is `dtype`, a conversion otherwise, split over threads, every
  // value checked. Not to be called from two threads at once.
  void load_into(const std::string& name, DType dtype, void* dst, const Shape& expect = {});
  // Rows [row0, row0 + rows) of a tensor of at least one dimension (a role inside a fused tensor,
  // e.g. Phi-3's qkv_proj), into `dst` (rows x row size x dtype size bytes), as load_into.
  void load_rows_into(const std::string& name, int64_t row0, int64_t rows, DType dtype, void* dst,
                      const Shape& expect = {});
  std::vector<std::string> names() const;  // sorted
  std::string file_of(const std::string& name) const;

 private:
  std::string dir_;
  std::vector<std::unique_ptr<SafetensorsFile>> files_;
  std::map<std::string, std::pair<size_t, const TensorEntry*>> where_;  // name -> (files_ index, entry)
};

// Writes `tensors` (any device) into model_dir as Hugging Face does: one model.safetensors when
// everything fits in max_shard_bytes, else model-0000i-of-0000n.safetensors shards (filled in
// order, a tensor larger than the limit gets a shard of its own) and model.safetensors.index.json
// {"metadata": {"total_size": bytes}, "weight_map": {name: shard}}. Every file is written
// atomically; the index last. Creates model_dir if needed; weight files of an earlier write there
// (model.safetensors, the index, model-*-of-*.safetensors) that the new layout does not use are
// removed. Returns the files written. A thin wrapper over CheckpointStreamWriter
// (io/checkpoint_stream.h), which writes the same layout tensor by tensor.
std::vector<std::string> write_sharded_checkpoint(const std::string& model_dir,
                                                  const std::vector<std::pair<std::string, Tensor>>& tensors,
                                                  size_t max_shard_bytes);

}  // namespace sp::io
