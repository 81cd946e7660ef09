#pragma once
// Reading the resume journal's files (persist/journal.h) as untrusted input: every file is parsed and
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
#include "prune/progress_store.h"

namespace sp::persist {

// The pipeline's types the journal stores.
using prune::Allocation;
using prune::AttentionUnit;
using prune::LayerGroups;
using prune::LayerRecord;
using prune::LayerResult;
using prune::Pass1Record;
using prune::PerplexityRow;

// The format this version writes (2: derived roles left out of the layer files); it reads 1 as 2
// without derived roles.
inline constexpr int kJournalFormat = 2;

// What the journal of this run must describe.
struct JournalExpect {
  io::ModelConfig model;  // the dense model
  AttentionUnit attention = AttentionUnit::None;
  bool mlp = false;
  DType output_dtype = DType::F32;  // of the layer weights
};

struct JournalHeader {
  int format = 0;
  std::map<std::string, std::string> inputs;
};

[[noreturn]] void journal_damaged(const std::string& file, const std::string& what);

// A layer's safetensors file (from disk, or `bytes` where given); its parse errors are damage too.
std::unique_ptr<io::SafetensorsFile> open_journal_tensors(const std::string& path,
                                                          std::shared_ptr<io::ByteSource> bytes = nullptr);

JournalHeader parse_journal_inputs(const std::string& file, const std::string& text);
Pass1Record parse_journal_pass1(const std::string& file, const std::string& text, const JournalExpect& e);
// Layer `l` from its record (JSON) and its tensors; `allocation` (pass 1's) fixes each block's removed
// groups. The weights are host tensors that share `st`'s bytes.
LayerRecord parse_journal_layer(const std::string& json_file, const std::string& text, const io::SafetensorsFile& st,
                                int l, const JournalExpect& e, const Allocation& allocation);

// The fuzzer's input format (fuzz/fuzz_journal.cpp; replayed from tests/fuzz_regressions/journal/):
// the first byte picks the file, 0 inputs.json, 1 pass1.json, anything else layer 0's record as
// [u32 LE length][layer_00000.json][layer_00000.safetensors]. Checked against a tiny LLaMA (hidden
// 16, 4 query / 2 KV heads, 8 neurons, 2 layers; kv_groups and the MLP, F32) whose allocation removes
// 1 KV group and 3 neurons per layer. Returns a sum over the first and last byte of every weight
// accepted (the fuzzer's sanitizers check they lie in the buffer); bad input throws InputError.
unsigned parse_journal_fuzz_input(const uint8_t* data, size_t size);

}  // namespace sp::persist
