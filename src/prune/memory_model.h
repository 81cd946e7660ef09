#pragma once
// Device memory of one rank of the pipeline (pipeline.cpp), from shapes alone: what the dry run
// prints and the budget is checked against. Every rank streams every layer over its share of the
// windows, so the peak is set by the widest layer, the rank's windows and the statistics of one
// layer; it is the larger of pass 1 (dense statistics, KL probes) and pass 2 (prune + refit,
// evaluation), each the sum of what is live at once in that pass.
#include <cstdint>

#include "io/model_config.h"
#include "prune/options.h"

namespace sp::prune {

struct MemoryInputs {
  int compute_bytes = 4;  // activation / weight bytes (fp32 4, bf16 / fp16 2)
  int calib_windows = 0;  // this rank's calibration windows
  int calib_seqlen = 0;
  int batch = 1;         // windows per forward call
  int eval_windows = 0;  // this rank's evaluation windows (every dataset)
  int eval_seqlen = 0;
  bool eval_before = false;  // the evaluation streams also live through pass 1
  int probe_windows = 0;     // this rank's KL probe windows
  bool read_ahead = false;   // the next layer is read into host tensors of this device (checkpoint on the CPU)
  bool host_states = false;  // calibration / evaluation hidden states in host memory (a batch at a time here)
};

// Each pass holds its streams throughout and, on top, the largest of its steps: a batch's forward
// while its statistics are added, the solves on the reduced statistics, the logits at the end.
struct MemoryEstimate {
  bool read_ahead = false;   // pass 1 holds the next layer too (pass 2's third layer covers it)
  int64_t globals = 0;       // embeddings, LM head when untied, positions: resident throughout
  int64_t layer = 0;         // the widest layer's weights (pass 2: the dense, the pruned and the next one read ahead)
  int64_t calib_states = 0;  // the rank's calibration hidden states (0 when they live in host memory)
  int64_t dense_states = 0;  // pass 2: the dense model's copy of them (refit_target dense)
  int64_t eval_states = 0;   // the rank's evaluation hidden states (pass 2; pass 1 too with eval.before)
  int64_t probe_states = 0;  // normalize kl: the probe and one perturbed copy per block (pass 1)
  int64_t activations = 0;   // one batch's forward through the widest layer, at its largest
  int64_t tap_activations = 0;                    // the same at the tap where a batch's statistics are added
  int64_t stats1_adding = 0, stats1_solving = 0;  // pass 1: accumulators + a batch's product; Grams + OBS curve
  int64_t stats2_adding = 0, stats2_solving = 0;  // pass 2, one module: the same; Gram + curve or refit
  int64_t kl_logits = 0;    // pass 1's end: the dense and a perturbed probe's logits, one chunk each
  int64_t eval_logits = 0;  // one chunk of evaluation logits
  bool eval_before = false;
  int64_t pass1() const;
  int64_t pass2() const;
  int64_t peak() const;
};

MemoryEstimate estimate_memory(const io::ModelConfig& m, const PruneOptions& o, const MemoryInputs& in);

}  // namespace sp::prune
