#pragma once
// Reading the resume journal's files (prune/journal.h) as untrusted input: every file is parsed and
// checked against what this run would have written (JSON keys and types, the layer index, tensor
// names, dtypes and shapes, keep-mask lengths and values, the allocation's blocks). A damaged or
// foreign file is an InputError "journal is damaged: <file>: <what>". Byte-based, for the fuzzer.
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "io/model_config.h"
#include "io/safetensors.h"
#include "prune/groups.h"
#include "prune/pipeline.h"

namespace sp::prune {

// What the journal of this run must describe.
struct JournalExpect {
  io::ModelConfig model;  // the dense model
  AttentionUnit attention = AttentionUnit::None;
  bool mlp = false;
  DType output_dtype = DType::F32;  // of the layer weights
};

struct Pass1Record {
  Allocation allocation;
  std::vector<PerplexityRow> before;
  double pass1_seconds = 0, allocation_seconds = 0, eval_seconds = 0;
};

struct LayerRecord {
  LayerResult result;
  model::LayerWeights weights;          // output dtype (read: host views of the file, or on a device)
  bool added_bias[2] = {false, false};  // a bias the refit gave attention / the MLP
  // Roles left out of `weights` because a replay derives them from the dense layer and the keep
  // masks (the caller's promise: they are that selection, converted to the output dtype).
  std::vector<model::Role> derived;
};

struct JournalHeader {
  int format = 0;
  std::map<std::string, std::string> inputs;
};

[[noreturn]] void journal_damaged(const std::string& file, const std::string& what);

JournalHeader parse_journal_inputs(const std::string& file, const std::string& text);
Pass1Record parse_journal_pass1(const std::string& file, const std::string& text, const JournalExpect& e);
// Layer `l` from its record (JSON) and its tensors; `allocation` (pass 1's) fixes each block's removed
// groups. The weights are host tensors that share `st`'s bytes.
LayerRecord parse_journal_layer(const std::string& json_file, const std::string& text, const io::SafetensorsFile& st,
                                int l, const JournalExpect& e, const Allocation& allocation);

}  // namespace sp::prune
