#pragma once
// The outputs of a pruning run (../shared/SPEC.md section 4; layouts in docs/formats.md), each
// written atomically so a failed run leaves nothing under a final name:
//   <dir>/<model_dir>/   the pruned Hugging Face checkpoint (compact: smaller tensors, per-layer
//                        shapes in config.json; dense: stock shapes with zeros), written layer by
//                        layer into a temporary folder renamed into place when complete (a
//                        previous one swapped out by io::replace_folder, so a failed rename
//                        loses neither; nothing outside dir is ever removed: io/output_paths.h);
//   <dir>/<masks>        masks.h5: per-layer keep masks, scores, allocated sparsity, run metadata.
// report.json is the command line's (it knows the run's environment).
#include <memory>
#include <string>

#include "core/enum_names.h"
#include "io/checkpoint_stream.h"
#include "model/model.h"
#include "prune/pipeline.h"

namespace sp::persist {

using prune::AttentionUnit;
using prune::LayerResult;
using prune::LayerSink;
using prune::PruneResult;

enum class CheckpointForm { Compact, Dense, None };
inline constexpr EnumName<CheckpointForm> kCheckpointFormNames[] = {
    {CheckpointForm::Compact, "compact"}, {CheckpointForm::Dense, "dense"}, {CheckpointForm::None, "none"}};
inline const char* to_string(CheckpointForm f) { return enum_name<CheckpointForm>(kCheckpointFormNames, f); }

struct OutputSpec {
  std::string dir;
  std::string model_dir = "model";  // folder name inside dir
  std::string masks = "masks.h5";
  CheckpointForm checkpoint = CheckpointForm::Compact;
  size_t max_shard_bytes = size_t(2) << 30;
  bool overwrite = false;
  std::string tokenizer_dir;  // folder whose tokenizer files are copied ("" = none)
};

// What masks.h5 records about the run besides the masks.
struct RunInfo {
  std::string config_yaml;  // the effective configuration
  std::string model_path;
  std::string model_identity;  // digest of config.json and the tensor table (see checkpoint_identity)
  std::string version;
  int ranks = 1;
  std::string device;
};

// A digest naming a checkpoint's contents without reading its weights: FNV-1a 64 over config.json
// and every tensor's (name, dtype, shape, byte size), as 16 hex digits.
std::string checkpoint_identity(const std::string& model_dir);

class OutputWriter {
 public:
  // Fails (InputError naming the path and output.overwrite) when a final output exists and
  // overwrite is off, or when model_dir / masks is not one plain name (io::single_name_problem);
  // creates dir; repairs what killed runs left (temporaries, a swap cut short).
  OutputWriter(OutputSpec spec, ExecContext& ctx, const io::ModelConfig& original, AttentionUnit unit);
  ~OutputWriter();
  // The pipeline's sink: appends the layer's tensors to the checkpoint being written.
  LayerSink sink();
  // Global tensors, config.json, tokenizer files; the folder renamed into place; then masks.h5.
  void finish(const PruneResult& r, const model::GlobalWeights& globals, DType dtype, const RunInfo& info);
  std::string model_path() const;
  std::string masks_path() const;

 private:
  void add_layer(const LayerResult& r, const model::LayerWeights& w);

  OutputSpec spec_;
  ExecContext& ctx_;
  io::ModelConfig original_;
  AttentionUnit unit_;
  std::string tmp_dir_;
  std::unique_ptr<io::CheckpointStreamWriter> writer_;
};

// masks.h5 alone (also used by tests).
void write_masks(const std::string& path, const PruneResult& r, const RunInfo& info);

}  // namespace sp::persist
