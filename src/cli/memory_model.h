#pragma once
// Device memory of one rank of the pipeline (pipeline.cpp), from shapes alone: what the dry run
// prints and the budget is checked against. Every rank streams every layer over its share of the
// windows, so the peak is set by the widest layer, the rank's windows and the statistics of one
// layer; it is the largest of pass 1 (dense statistics, KL probes), the refinement's measurement
// passes and pass 2 (prune + refit, evaluation), each the sum of what is live at once in that pass.
#include <cstdint>

#include "io/model_config.h"
#include "prune/options.h"

namespace sp::cli {

using prune::PruneOptions;

struct MemoryWorkload {
  int compute_bytes = 4;  // activation / weight bytes (fp32 4, bf16 / fp16 2)
  int calib_windows = 0;  // this rank's calibration windows
  int calib_seqlen = 0;
  int batch = 1;         // windows per forward call
  int eval_windows = 0;  // this rank's evaluation windows (every dataset)
  int eval_seqlen = 0;
  bool eval_before = false;  // the evaluation streams also live through pass 1
  int probe_windows = 0;     // this rank's KL probe windows
  int refine_windows = 0;    // this rank's windows of the allocation refinement (prune.refine_rounds > 0)
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
  int64_t probe_states = 0;  // normalize kl: the probe and one perturbed copy per block (pass 1; 0 with host states)
  int64_t refine_states = 0;  // refinement: the dense and pruned streams and two one-block copies per block
  int64_t activations = 0;   // one batch's forward through the widest layer, at its largest
  int64_t tap_activations = 0;                    // the same at the tap where a batch's statistics are added
  int64_t stats1_adding = 0, stats1_solving = 0;  // pass 1: accumulators + a batch's product; Grams + OBS curve
  int64_t stats2_adding = 0, stats2_solving = 0;  // pass 2, one module: the same; Gram + curve or refit
  int64_t kl_logits = 0;    // pass 1's end: the dense and a perturbed probe's logits, one chunk each
  int64_t eval_logits = 0;  // one chunk of evaluation logits
  bool eval_before = false;
  int64_t pass1() const;
  int64_t pass2() const;
  int64_t refine() const;  // a measurement pass: pass 2's work with the refinement's streams, no evaluation
  int64_t peak() const;
};

MemoryEstimate estimate_memory(const io::ModelConfig& m, const PruneOptions& o, const MemoryWorkload& in);

// Host memory (RAM) of one rank beside the device estimate. On the CPU the device estimate is host
// memory itself; on a GPU the host holds the read-ahead slabs and, when asked, the hidden states.
// The writing rank (rank 0) also holds the journal's staging and the checkpoint writer's shards.
struct HostWorkload {
  bool cpu = false;              // the compute device is the CPU
  bool read_ahead = false;       // layers come from a checkpoint through model/layer_prefetch.h
  int64_t mapped_bytes = 0;      // the checkpoint's files (mmapped, every page read; 0: synthetic weights)
  int output_bytes = 4;          // dtype size of the written weights
  bool journal = false;          // this rank writes the resume journal
  int64_t checkpoint_bytes = 0;  // this rank writes a checkpoint of this size (0: none, or another rank)
  int64_t max_shard_bytes = 0;   // output.max_shard_gb
};

struct HostMemoryEstimate {
  int64_t baseline = 0;       // the process: code, libraries, MPI, the allocator's arenas (kHostBaseline)
  int64_t device = 0;         // CPU runs: the device estimate's peak (weights, states, statistics)
  int64_t read_ahead = 0;     // GPU runs: two page-locked staging slabs of the widest layer (compute dtype)
  int64_t hidden_states = 0;  // hidden states in host memory (calibration, its dense copy, evaluation)
  int64_t refine_store = 0;   // refinement on a GPU: the pruned layers and their one-step variants, kept for the search
  int64_t journal = 0;        // the journal's staging: at most the widest dense layer in the output dtype
  int64_t checkpoint = 0;     // the checkpoint writer's shards (one filling, one being written): 2 x output.max_shard_gb
  int64_t mapped = 0;         // the checkpoint's mmapped file pages: resident once read, shared on a node
  int64_t anonymous() const {
    return baseline + device + read_ahead + hidden_states + refine_store + journal + checkpoint;
  }
  int64_t total() const { return anonymous() + mapped; }  // what the process's resident set peaks at
};

// The model-independent part of a process's resident set: code, libraries (MPI, HDF5, the C++
// runtime), the allocator's arenas, the token ids. The quickstart's measured peak less the other terms:
// 29-37 MiB with 1 and 2 ranks (tests/cli/memory_estimate.py).
constexpr int64_t kHostBaseline = int64_t(40) << 20;

HostMemoryEstimate estimate_host_memory(const io::ModelConfig& m, const PruneOptions& o, const MemoryWorkload& in,
                                        const MemoryEstimate& device, const HostWorkload& h);

}  // namespace sp::cli
