#include "cli/memory_model.h"

#include <algorithm>

#include "kernels/ops_linalg.h"
#include "prune/groups.h"
#include "prune/obs.h"

namespace sp::cli {
using prune::AllocationMode;
using prune::LayerGroups;
using prune::Normalization;
using prune::Recipe;
using prune::RefitTarget;
using prune::ScoreMetric;
namespace {

constexpr int64_t kF64 = 8, kF32 = 4;

// ChannelStats' exact accumulators (3 integer limbs a value, plus a count): an n-wide Gram keeps its
// lower triangle, a cross-Gram all n x n values.
int64_t gram_accumulator(int64_t n) { return (3 * n * (n + 1) / 2 + 1) * 8; }
int64_t cross_accumulator(int64_t n) { return (3 * n * n + 1) * 8; }

// One batch's cross-Gram product of an n-wide tap while it is added (statistics.cpp): fp32
// activations (or fp64 asked for) convert the rows to F64 and form the product in an F64 matrix;
// 16-bit ones form it in an F64 matrix through an fp32 temporary of at most 2^28 values
// (gram_accumulate_).
int64_t product(int64_t n, int64_t rows, bool wide) {
  return n * n * kF64 + (wide ? rows * n * kF64 : std::min<int64_t>(n * n, int64_t(1) << 28) * kF32);
}

// The same for a Gram: 16-bit activations at least ops::kGramBlocksFrom wide go straight into the
// limbs, one fp32 column block of [n, ceil(n / 8)] at a time (gram_exact_accumulate_).
int64_t gram_product(int64_t n, int64_t rows, bool wide) {
  return wide || n < ops::kGramBlocksFrom ? product(n, rows, wide) : n * ((n + 7) / 8) * kF32;
}

// The temporaries of ops::select_block / select_square_ gathering `rows` rows of an in_cols-wide F64
// matrix down to out_cols columns: one chunk of whole rows, then its selected columns.
int64_t gather_temp(int64_t rows, int64_t in_cols, int64_t out_cols) {
  const int64_t chunk = std::min(rows, std::max<int64_t>(1, ops::kGatherChunk / std::max<int64_t>(1, in_cols)));
  return chunk * (in_cols + out_cols) * kF64;
}

// OBS curve of an n-wide consumer with `out` outputs (obs.cpp): H^-1 (the damped factor inverted in
// place, compacted in place), the held updates' two factors and the working copy of the weights, in
// F64 (the Gram itself is counted by the caller).
// step_columns: the columns one update removes when prune.obs_step is set (0: automatic, ~n / 256).
// The inverse's own scratch on a GPU (kernels/cuda/linalg.cu: kPanel x n / 2, 256 n values) lives
// before the factors (at least 2 x min(1024, n / 4) x n values) are made, so it is below this peak.
int64_t curve(int64_t n, int64_t out, int64_t step_columns) {
  return (n * n + 2 * prune::obs_pending_rank(n, step_columns) * n + out * n) * kF64 + gather_temp(n, n, n);
}

// Least-squares refit keeping k of n columns (refit_columns), F64, the largest of its steps: the
// F64 weights [out, n] with the cross block [n, k] and the product [out, k] (and the kept weights
// [out, k] for the damping term); then the kept Gram [k, k], factored in place, beside the product
// and the kept weights; then the factor with the product's transpose and the solution.
int64_t refit(int64_t n, int64_t k, int64_t out) {
  return std::max({(out * n + n * k + 2 * out * k) * kF64, (k * k + 2 * out * k) * kF64 + gather_temp(k, n, k)});
}

// Blocks (layer, module) with groups to prune.
int prunable_blocks(const io::ModelConfig& m, const PruneOptions& o) {
  int blocks = 0;
  for (int l = 0; l < m.n_layers; ++l) {
    const LayerGroups g = prune::layer_groups(m, l, o.attention, o.mlp);
    blocks += (g.attention_units > 0) + (g.mlp_units > 0);
  }
  return blocks;
}

// normalize kl: the probe and one perturbed copy per block (pass 1), wherever they live.
int64_t kl_probe_bytes(const io::ModelConfig& m, const PruneOptions& o, const Recipe& r, const MemoryWorkload& in) {
  if (r.allocation == AllocationMode::Uniform || r.normalize != Normalization::Kl) return 0;
  return int64_t(1 + prunable_blocks(m, o)) * in.probe_windows * in.calib_seqlen * m.hidden * in.compute_bytes;
}

}  // namespace

int64_t MemoryEstimate::pass1() const {
  const int64_t streams = globals + calib_states + (eval_before ? eval_states : 0) + probe_states;
  const int64_t layers = (read_ahead ? 2 : 1) * layer;
  return streams +
         std::max({layers + activations, layers + tap_activations + stats1_adding, layers + stats1_solving, kl_logits});
}

int64_t MemoryEstimate::pass2() const {
  const int64_t streams = globals + calib_states + dense_states + eval_states;
  return streams + std::max({3 * layer + activations, 3 * layer + tap_activations + stats2_adding,
                             3 * layer + stats2_solving, eval_logits});
}

int64_t MemoryEstimate::refine() const {
  if (refine_states == 0) return 0;
  const int64_t streams = globals + calib_states + dense_states + refine_states;
  return streams + std::max({3 * layer + activations, 3 * layer + tap_activations + stats2_adding,
                             3 * layer + stats2_solving, kl_logits});
}

// Plus 1 MiB for the small tensors of every step (index lists, per-row and per-channel vectors).
int64_t MemoryEstimate::peak() const { return std::max({pass1(), pass2(), refine()}) + (int64_t(1) << 20); }

MemoryEstimate estimate_memory(const io::ModelConfig& m, const PruneOptions& o, const MemoryWorkload& in) {
  const Recipe r = prune::resolve_recipe(o);
  const int64_t cb = in.compute_bytes, h = m.hidden;
  const bool curves = r.allocation != AllocationMode::Uniform;
  const bool dense_stream = r.reconstruct && (r.target == RefitTarget::Dense || r.refit_producers);
  const bool cross = r.reconstruct && r.target == RefitTarget::Dense;
  const bool wide = cb == 4 || o.gram_fp64;
  const bool gram = r.metric == ScoreMetric::Obs || r.reconstruct || r.normalize == Normalization::Output;
  const int64_t rows = int64_t(std::max(0, std::min(in.batch, in.calib_windows))) * in.calib_seqlen;

  MemoryEstimate e;
  e.eval_before = in.eval_before;
  e.read_ahead = in.read_ahead;
  e.globals = int64_t(m.vocab) * h * cb * (m.tie_embeddings ? 1 : 2) + 2 * h * cb;
  if (m.family == io::ArchFamily::Opt) e.globals += int64_t(m.max_positions + 2) * h * cb;
  // Host-resident states take no device memory between forwards: the uploaded batch is the copy
  // that `activations` counts.
  const int64_t resident = in.host_states ? 0 : 1;
  e.calib_states = resident * in.calib_windows * in.calib_seqlen * h * cb;
  e.dense_states = dense_stream ? e.calib_states : 0;
  e.eval_states = resident * in.eval_windows * in.eval_seqlen * h * cb;
  for (int l = 0; l < m.n_layers; ++l) {
    const LayerGroups g = prune::layer_groups(m, l, o.attention, o.mlp);
    const io::LayerShape& s = m.layers[size_t(l)];
    const int64_t q = int64_t(s.n_heads) * m.head_dim, kv = int64_t(s.n_kv_heads) * m.head_dim, f = s.intermediate;
    e.layer = std::max(e.layer, g.layer_params * cb);
    // A batch through the layer (forward_common.cpp): the batch's copy (forwards that do not
    // advance) and the norm's output, plus the larger half's temporaries: q / k / v and the
    // attention output, or gate / up and their product. At the consumer's tap only the branch's
    // input is left (the attention output or the MLP product).
    e.activations = std::max(e.activations, rows * (2 * h + std::max({2 * q + 2 * kv, q + h, 3 * f, f + h})) * cb);
    e.tap_activations = std::max(e.tap_activations, rows * (2 * h + std::max(q, f)) * cb);
    if (!gram) continue;
    const int64_t wa = g.attention_units > 0 ? q : 0, wm = g.mlp_units > 0 ? f : 0, widest = std::max(wa, wm);
    // Each module's curve; with a set prune.obs_step an update removes that many groups of its width.
    const int64_t curve_a = wa > 0 ? curve(wa, h, o.obs_step > 0 ? o.obs_step * (wa / g.attention_units) : 0) : 0;
    const int64_t curve_m = wm > 0 ? curve(wm, h, o.obs_step > 0 ? o.obs_step : 0) : 0;
    // Pass 1 collects both modules' consumer inputs in one forward: the wider one's product is
    // formed while both accumulators are live, and while the sums are read back all of them are
    // live with the F64 values being made; then the curves run, one at a time, on the F64 Grams.
    if (curves) {
      const int64_t accs = gram_accumulator(wa) + gram_accumulator(wm);
      e.stats1_adding =
          std::max({e.stats1_adding, accs + gram_product(widest, rows, wide), accs + (wa * wa + wm * wm) * kF64});
      e.stats1_solving = std::max(e.stats1_solving, (wa * wa + wm * wm) * kF64 + std::max(curve_a, curve_m));
    }
    // Pass 2, one module at a time: its accumulators, then the curve to the allocated count and
    // the refit of the kept columns (bounded by keeping them all: the allocation is not known yet).
    for (const auto& [n, curve_n] : {std::pair{wa, curve_a}, std::pair{wm, curve_m}}) {
      if (n == 0) continue;
      const int64_t mats = cross ? 2 : 1, accs = gram_accumulator(n) + (cross ? cross_accumulator(n) : 0);
      e.stats2_adding = std::max({e.stats2_adding,
                                  accs + std::max(gram_product(n, rows, wide), cross ? product(n, rows, wide) : 0) +
                                      (cross && wide ? rows * n * kF64 : 0),
                                  accs + mats * n * n * kF64});
      e.stats2_solving =
          std::max(e.stats2_solving, mats * n * n * kF64 + std::max(curve_n, r.reconstruct ? refit(n, n, h) : 0));
    }
  }
  if (o.refine_rounds > 0)
    e.refine_states = int64_t(2 + 2 * prunable_blocks(m, o)) * in.refine_windows * in.calib_seqlen * h * cb;
  e.probe_states = resident * kl_probe_bytes(m, o, r, in);
  if ((curves && r.normalize == Normalization::Kl) || o.refine_rounds > 0) {
    // Row chunks of about 32 Mi logits (HiddenStream::window_kl): the dense probe's logits while
    // the perturbed copy's normed rows and logits are formed, and the per-row divergences.
    const int64_t r1 = std::min<int64_t>((int64_t(32) << 20) / m.vocab, in.calib_seqlen);
    e.kl_logits = r1 * (2 * m.vocab + h) * cb + r1 * kF32;
  }
  // Row chunks of about 64 Mi logits (HiddenStream::window_nll): normed rows, logits, targets and NLLs.
  if (in.eval_windows > 0) {
    const int64_t r2 = std::min<int64_t>((int64_t(64) << 20) / m.vocab, in.eval_seqlen - 1);
    e.eval_logits = r2 * (m.vocab + h) * cb + 2 * r2 * kF32;
  }
  return e;
}

HostMemoryEstimate estimate_host_memory(const io::ModelConfig& m, const PruneOptions& o, const MemoryWorkload& in,
                                        const MemoryEstimate& device, const HostWorkload& h) {
  const Recipe r = prune::resolve_recipe(o);
  HostMemoryEstimate e;
  e.baseline = kHostBaseline;
  e.mapped = h.mapped_bytes;
  if (h.cpu) e.device = device.peak();
  // The widest layer; staging rounds each of its tensors (18 roles at most) up to 256 bytes (core/tensor.cpp).
  int64_t layer_params = 0;
  for (int l = 0; l < m.n_layers; ++l)
    layer_params = std::max(layer_params, prune::layer_groups(m, l, o.attention, o.mlp).layer_params);
  const int64_t slots = 18 * 256;
  // On the CPU the layer read ahead is a tensor of the device estimate; a GPU's are two slabs
  // (layer_prefetch.h: the one being copied from and the one being filled).
  if (!h.cpu && h.read_ahead) e.read_ahead = 2 * (layer_params * in.compute_bytes + slots);
  if (in.host_states) {
    const bool dense_stream = r.reconstruct && (r.target == RefitTarget::Dense || r.refit_producers);
    e.hidden_states = (int64_t(in.calib_windows) * in.calib_seqlen * (dense_stream ? 2 : 1) +
                       int64_t(in.eval_windows) * in.eval_seqlen) *
                      m.hidden * in.compute_bytes;
    e.hidden_states += kl_probe_bytes(m, o, r, in);  // the KL probes live there too
  }
  // The refinement keeps every pruned layer and, per block, two variants of its module (the module's
  // tensors only), in host memory (on a GPU too: uploaded layer by layer when the search assembles its
  // candidates), about three pruned models, and the pruned layers of the best allocation measured
  // before (pass 2 replays them): about four pruned models.
  if (o.refine_rounds > 0) {
    int64_t all_layers = 0;
    for (int l = 0; l < m.n_layers; ++l) all_layers += prune::layer_groups(m, l, o.attention, o.mlp).layer_params;
    e.refine_store = std::llround(4.0 * (1.0 - o.sparsity) * double(all_layers)) * h.output_bytes;
  }
  if (h.journal) e.journal = layer_params * h.output_bytes + slots;
  // A shard is written when the next tensor would overflow it; a tensor above the limit (the
  // embeddings, with a small limit) is a shard of its own. One shard is written in the background
  // while the next one fills: two shards at most.
  if (h.checkpoint_bytes > 0) {
    const int64_t largest = int64_t(m.vocab) * m.hidden * h.output_bytes;
    e.checkpoint = std::min(h.checkpoint_bytes, 2 * std::max(h.max_shard_bytes, largest));
  }
  return e;
}

}  // namespace sp::cli
