#include "prune/obs.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <optional>

#include "core/error.h"
#include "core/log.h"
#include "core/trace_range.h"
#include "kernels/ops.h"
#include "kernels/ops_linalg.h"

namespace sp::prune {
namespace {

// A host vector as an F64 tensor on ctx's device.
Tensor f64_tensor(ExecContext& ctx, const std::vector<double>& v) {
  Tensor t = Tensor::empty({int64_t(v.size())}, DType::F64);
  std::copy(v.begin(), v.end(), t.data<double>());
  return ctx.device().is_cpu() ? t : t.to(ctx.device());
}

Tensor to_f64(ExecContext& ctx, const Tensor& t) {
  return t.dtype() == DType::F64 ? t : ops::convert(ctx, t, DType::F64);
}

// The diagonal of A^{-1} W_G^T W_G from L (A = L L^T) and W_G, on the device: its sum is the
// saliency of removing G.
Tensor trace_terms(ExecContext& ctx, const Tensor& l, const Tensor& wg) {
  Tensor m = ops::matmul(ctx, wg, true, wg, false);  // W_G^T W_G
  return ops::diagonal(ctx, ops::cholesky_solve(ctx, l, m));
}

double sum_of(const Tensor& t) {
  const auto d = t.to_f64_vector();
  return std::accumulate(d.begin(), d.end(), 0.0);
}

// Where the live columns are, on the device, for the choice made there: each original column's
// position (-1: dropped) and each group's first column's (a single-column group's place in the column
// saliencies).
struct ColumnMaps {
  Tensor positions;  // [n] I32
  Tensor firsts;     // [groups] I32
};

ColumnMaps column_maps(ExecContext& ctx, const std::vector<int32_t>& pos,
                       const std::vector<std::vector<int32_t>>& groups) {
  std::vector<int32_t> first(groups.size());
  for (size_t g = 0; g < groups.size(); ++g) first[g] = pos[size_t(groups[g][0])];
  return {index_tensor(ctx, pos), index_tensor(ctx, first)};
}

// The columns still held in W and H^-1 while obs_greedy removes groups: removed columns stay
// (never read again) until compact() drops them, so the updates shrink with the live width.
class LiveColumns {
 public:
  LiveColumns(ExecContext& ctx, int64_t n, const std::vector<std::vector<int32_t>>& groups)
      : groups_(groups), at_(size_t(n)), pos_(size_t(n)), gone_(size_t(n), false) {
    std::iota(at_.begin(), at_.end(), 0);
    std::iota(pos_.begin(), pos_.end(), 0);
    maps_ = column_maps(ctx, pos_, groups_);
  }
  int32_t local(int32_t column) const { return pos_[size_t(column)]; }
  const ColumnMaps& on_device() const { return maps_; }
  // `columns` more removed since the last compaction (their groups are named at the compaction).
  void count(int64_t columns) { dead_ += columns; }
  // Time to compact: the removed columns still held are an eighth of them.
  bool due() const { return dead_ * 8 >= int64_t(at_.size()); }
  // W and H^-1 restricted to the live columns (those of no group in `removed`, every group removed
  // so far), H^-1 in its own memory (one n^2 F64 matrix, as cli/memory_model.cpp counts the curve).
  void compact(ExecContext& ctx, Tensor& w, Tensor& hinv, const std::vector<int32_t>& removed) {
    for (int32_t g : removed)
      for (int32_t j : groups_[size_t(g)]) gone_[size_t(j)] = true;
    std::vector<int32_t> keep, at;
    for (size_t p = 0; p < at_.size(); ++p)
      if (!gone_[size_t(at_[p])]) keep.push_back(int32_t(p)), at.push_back(at_[p]);
    const Tensor k = index_tensor(ctx, keep);  // ascending
    ops::select_square_(ctx, hinv, k);
    w = ops::select_cols(ctx, w, k);
    at_ = std::move(at);
    std::fill(pos_.begin(), pos_.end(), -1);
    for (size_t p = 0; p < at_.size(); ++p) pos_[size_t(at_[p])] = int32_t(p);
    dead_ = 0;
    maps_ = column_maps(ctx, pos_, groups_);
  }

 private:
  const std::vector<std::vector<int32_t>>& groups_;
  std::vector<int32_t> at_;   // original column at each local position
  std::vector<int32_t> pos_;  // local position of each original column (-1: dropped)
  std::vector<bool> gone_;    // removed (by original column)
  int64_t dead_ = 0;          // removed columns still held
  ColumnMaps maps_;
};

// H^-1 while obs_greedy removes groups: a base B and the updates since the last flush, held as
// factors: H^-1 = B - U^T V, U's rows S^T = H^-1[G, :], V's rows A^{-1} S^T (rank r <= cap).
// Applied at once, an update reads and writes all of B for a rank-|G| change, which is memory-bound
// (most of an update's time at n = 11008 on an H100); held, it costs O(n r |G|), and a flush applies
// `cap` columns' worth in one GEMM at the fp64 rate (the lazy batch updates of GPTQ / SparseGPT, for
// a greedy order). The diagonal, all the single-column saliencies read, is kept current on its own
// and recomputed from B at every flush.
class LazyInverse {
 public:
  LazyInverse(ExecContext& ctx, Tensor hinv, int64_t cap) : ctx_(ctx), b_(std::move(hinv)), cap_(cap) { reset(); }

  int64_t room() const { return cap_ - r_; }
  const Tensor& diagonal() const { return d_; }

  // H^-1[:, gi], [n, |gi|].
  Tensor columns(const Tensor& gi) const {
    Tensor s = ops::select_cols(ctx_, b_, gi);
    if (r_ > 0)
      ops::gemm_(ctx_, s, u_.slice_rows(0, r_), true, ops::select_cols(ctx_, v_.slice_rows(0, r_), gi), false, -1.0,
                 1.0);
    return s;
  }
  // H^-1 -= st^T x (st = S^T, x = A^{-1} S^T: [k, n], k <= room()).
  void push(const Tensor& st, const Tensor& x) {
    const int64_t k = st.dim(0);
    SP_CHECK(k <= room(), "LazyInverse: {} rows pushed with room for {}", k, room());
    Tensor us = u_.slice_rows(r_, r_ + k), vs = v_.slice_rows(r_, r_ + k);
    ops::copy_(ctx_, us, st);
    ops::copy_(ctx_, vs, x);
    ops::sub_column_dots_(ctx_, d_, st, x);
    r_ += k;
  }
  // H^-1 itself, every held update applied. A caller that changes its columns calls reset() next.
  Tensor& flushed() {
    if (r_ > 0) {
      ops::gemm_(ctx_, b_, u_.slice_rows(0, r_), true, v_.slice_rows(0, r_), false, -1.0, 1.0);
      r_ = 0;
      d_ = ops::diagonal(ctx_, b_);
    }
    return b_;
  }
  // After B's columns changed (LiveColumns::compact): factors of B's new width, nothing held.
  void reset() {
    SP_CHECK(r_ == 0, "LazyInverse::reset with {} rows held", r_);
    const int64_t n = b_.dim(0);
    u_ = Tensor();  // released before the new ones are made
    v_ = Tensor();
    u_ = Tensor::empty({cap_, n}, DType::F64, ctx_.device());
    v_ = Tensor::empty({cap_, n}, DType::F64, ctx_.device());
    d_ = ops::diagonal(ctx_, b_);
  }

 private:
  ExecContext& ctx_;
  Tensor b_, u_, v_, d_;
  int64_t cap_ = 0, r_ = 0;
};

// Every remaining group's saliency (groups of one size). Single columns in one pass,
// ||W_:,j||^2 / hinv_jj; wider groups (heads, KV groups) all at once, one batched factorisation.
std::vector<double> saliencies(ExecContext& ctx, const Tensor& w, LazyInverse& hinv,
                               const std::vector<std::vector<int32_t>>& groups, const std::vector<bool>& removed,
                               const LiveColumns& live) {
  std::vector<double> s(groups.size(), std::numeric_limits<double>::infinity());
  if (groups.empty()) return s;
  const size_t b = groups[0].size();
  if (b == 1) {
    const auto v = ops::column_saliencies(ctx, w, hinv.diagonal()).to_f64_vector();
    for (size_t g = 0; g < groups.size(); ++g)
      if (!removed[g]) s[g] = v[size_t(live.local(groups[g][0]))];
    return s;
  }
  std::vector<int32_t> cols, live_groups;
  for (size_t g = 0; g < groups.size(); ++g) {
    if (removed[g]) continue;
    live_groups.push_back(int32_t(g));
    for (int32_t j : groups[g]) cols.push_back(live.local(j));
  }
  const Tensor gi = index_tensor(ctx, cols);
  Tensor a = ops::select_diagonal_blocks(ctx, hinv.flushed(), gi, int64_t(b));  // A_g = H^-1[g, g] only
  const std::vector<double> v = ops::block_saliencies(ctx, a, ops::select_cols(ctx, w, gi), int64_t(b));
  for (size_t i = 0; i < live_groups.size(); ++i) s[size_t(live_groups[i])] = v[i];
  return s;
}

}  // namespace

DampedFactor damped_cholesky(ExecContext& ctx, const Tensor& h, double damping, const std::string& what) {
  return damped_cholesky(
      ctx, [&] { return h.clone(); }, damping, what);
}

DampedFactor damped_cholesky(ExecContext& ctx, const std::function<Tensor()>& make, double damping,
                             const std::string& what) {
  DampedFactor f;
  f.l = make();
  const auto d = ops::diagonal(ctx, f.l).to_f64_vector();
  double mean = d.empty() ? 0.0 : std::accumulate(d.begin(), d.end(), 0.0) / double(d.size());
  SP_REQUIRE(std::isfinite(mean), "{}: the calibration statistics are not finite (NaN/Inf activations)", what);
  f.delta = damping * (mean > 0 ? mean : 1.0);
  if (f.delta <= 0) f.delta = 1e-8 * (mean > 0 ? mean : 1.0);
  for (; f.escalations <= 8; ++f.escalations, f.delta *= 10) {
    if (f.escalations > 0) {
      f.l = Tensor();  // the failed factor goes before the next copy is made
      f.l = make();
    }
    ops::add_diagonal_(ctx, f.l, f.delta);
    if (ops::cholesky_(ctx, f.l)) {
      if (f.escalations > 0)
        SP_LOG_WARN("{}: Cholesky needed damping {:.3g} x mean(diag H) ({} escalation(s))", what, f.delta / mean,
                    f.escalations);
      return f;
    }
  }
  throw_input(
      "{}: the least-squares system is not positive definite even with damping {:.3g} x mean(diag H); the "
      "calibration activations are degenerate (too few tokens, or constant / non-finite channels)",
      what, f.delta / 10 / (mean > 0 ? mean : 1.0));
}

RemovalCurve obs_greedy(ExecContext& ctx, Tensor w, Tensor hinv, const std::vector<std::vector<int32_t>>& groups,
                        int max_removed, int step) {
  SP_CHECK(w.dtype() == DType::F64 && hinv.dtype() == DType::F64, "obs_greedy works in F64");
  SP_CHECK(step >= 1 && max_removed >= 0 && max_removed <= int(groups.size()), "step {} max_removed {}", step,
           max_removed);
  SP_CHECK(std::all_of(groups.begin(), groups.end(), [&](const auto& g) { return g.size() == groups[0].size(); }),
           "obs_greedy: groups of one size expected");
  LiveColumns live(ctx, w.dim(1), groups);
  const int64_t width = groups.empty() ? 0 : int64_t(groups[0].size());
  LazyInverse inv(ctx, std::move(hinv), obs_pending_rank(w.dim(1), int64_t(step) * width));
  RemovalCurve c;
  c.cost.push_back(0.0);
  if (max_removed == 0) {
    c.saliency = saliencies(ctx, w, inv, groups, std::vector<bool>(groups.size(), false), live);
    return c;
  }
  // Each step's choice is made on the device (ops::pick_cheapest_): the host queues the steps
  // without waiting for their saliencies, and reads the picks when it compacts and at the end.
  std::vector<int32_t> flat;
  for (const auto& g : groups) flat.insert(flat.end(), g.begin(), g.end());
  const Tensor members = index_tensor(ctx, flat);
  Tensor alive = index_tensor(ctx, std::vector<int32_t>(groups.size(), 1));
  Tensor picked = Tensor::empty({max_removed}, DType::I32, ctx.device());
  Tensor picked_cost = Tensor::empty({max_removed}, DType::F64, ctx.device());
  std::vector<bool> removed(groups.size(), false);  // multi-column groups: their saliencies skip these
  auto picks_so_far = [&](int64_t k) {
    const Tensor h = picked.slice_rows(0, k).to(Device::cpu());
    return std::vector<int32_t>(h.data<int32_t>(), h.data<int32_t>() + k);
  };
  struct Step {
    Tensor terms;         // diagonal of A^{-1} W_G^T W_G (several groups), on the device
    int64_t first, take;  // its picks in picked / picked_cost
  };
  std::vector<Step> steps;
  // Factorisations that failed, counted on the device and read once at the end (no wait per update).
  Tensor failures = Tensor::zeros({1}, DType::I32, ctx.device());
  Tensor first_cost;  // step 0's single-column saliencies (every group's saliency against the full module)
  const Tensor each_group = width == 1 ? Tensor() : index_tensor(ctx, [&] {  // a group's place in its saliencies
    std::vector<int32_t> at(groups.size());
    std::iota(at.begin(), at.end(), 0);
    return at;
  }());
  int64_t done = 0;
  while (done < max_removed) {
    std::optional<TraceRange> range(std::in_place, ctx, "greedy.select");
    const int64_t take = std::min<int64_t>({step, int64_t(groups.size()) - done, max_removed - done});
    Tensor cost;
    if (width == 1) {
      cost = ops::column_saliencies(ctx, w, inv.diagonal());  // by position; a group's is at its first
      if (done == 0) first_cost = cost;
    } else {
      const std::vector<double> s = saliencies(ctx, w, inv, groups, removed, live);
      if (done == 0) c.saliency = s;
      cost = f64_tensor(ctx, s);  // by group
    }
    std::optional<TraceRange> part(std::in_place, ctx, "greedy.select.pick");  // the steps' parts, for the range clock
    Tensor pk = picked.slice_rows(done, done + take), pc = picked_cost.slice_rows(done, done + take);
    ops::pick_cheapest_(ctx, cost, width == 1 ? live.on_device().firsts : each_group, alive, pk, pc);
    const Tensor gi = ops::group_columns(ctx, pk, members, live.on_device().positions, width);  // ascending
    part.reset();
    range.reset();
    if (take * width > inv.room()) {
      const TraceRange flush(ctx, "greedy.flush");
      inv.flushed();
    }
    range.emplace(ctx, "greedy.update");
    // One factor of A = H^-1[G, G] serves the joint saliency and the update.
    part.emplace(ctx, "greedy.update.columns");
    Tensor sg = inv.columns(gi);  // S = H^-1[:, G]
    Tensor a = ops::select_rows(ctx, sg, gi);
    part.emplace(ctx, "greedy.update.factor");
    ops::cholesky_(ctx, a, &failures);
    part.emplace(ctx, "greedy.update.terms");
    Tensor wg = ops::select_cols(ctx, w, gi);
    // The joint saliency stays on the device until the end: no wait for the stream here.
    steps.push_back({take == 1 ? Tensor() : trace_terms(ctx, a, wg), done, take});
    // W -= W_G A^{-1} S^T and H^-1 -= S A^{-1} S^T.
    part.emplace(ctx, "greedy.update.solve");
    const Tensor st = ops::transpose(ctx, sg);
    const Tensor x = ops::cholesky_solve(ctx, a, st);  // [|G|, n]
    part.emplace(ctx, "greedy.update.w");
    ops::gemm_(ctx, w, wg, false, x, false, -1.0, 1.0);
    part.emplace(ctx, "greedy.update.push");
    inv.push(st, x);
    part.reset();
    done += take;
    range.reset();
    if (width > 1) {  // the next saliencies are read on the host anyway
      const std::vector<int32_t> now = picks_so_far(done);
      for (int64_t i = done - take; i < done; ++i) removed[size_t(now[size_t(i)])] = true;
    }
    // The removed columns stay in W and H^-1 (never read again) until they are an eighth of them;
    // then both shrink to the live columns, so the updates cost ~(n - k)^2, not n^2.
    live.count(take * width);
    if (live.due() && done < max_removed) {
      const TraceRange compact(ctx, "greedy.compact");
      live.compact(ctx, w, inv.flushed(), picks_so_far(done));
      inv.reset();
    }
  }
  SP_REQUIRE(failures.to(Device::cpu()).data<int32_t>()[0] == 0,
             "OBS update: a principal block of H^-1 is not positive definite");
  c.order = picks_so_far(max_removed);
  const std::vector<double> pcost = picked_cost.to_f64_vector();
  if (width == 1) {  // step 0 came before any compaction: group g's column is at its original place
    const std::vector<double> v = first_cost.to_f64_vector();
    for (const auto& g : groups) c.saliency.push_back(v[size_t(g[0])]);
  }
  // A step's error is split over its groups in proportion to their saliencies (summed cheapest first).
  for (const Step& st : steps) {
    const double joint = st.terms.defined() ? sum_of(st.terms) : pcost[size_t(st.first)];
    SP_REQUIRE(std::isfinite(joint), "OBS saliency is not finite: the Gram matrix is degenerate");
    double parts = 0;
    for (int64_t i = st.first; i < st.first + st.take; ++i) parts += pcost[size_t(i)];
    for (int64_t i = st.first; i < st.first + st.take; ++i)
      c.cost.push_back(c.cost.back() + joint * (parts > 0 ? pcost[size_t(i)] / parts : 1.0 / double(st.take)));
  }
  return c;
}

Refit refit_columns(ExecContext& ctx, const Tensor& w, const Tensor& bias, const RefitStats& in,
                    const std::vector<int32_t>& kept, double damping, const std::string& what) {
  const Tensor k = index_tensor(ctx, kept);
  // Temporaries are scoped and released as soon as they are used: for a 28672-wide MLP each [n, n]
  // F64 matrix is 6.6 GB, and at most one [n, |K|] or [|K|, |K|] one is live at a time beside the
  // [out, n] / [out, |K|] ones (cli/memory_model.cpp counts the steps).
  Tensor sk, sr, wb, wk;
  std::vector<double> full;  // W s_R (intercept)
  const bool intercept = in.sum != nullptr;
  const double t = double(in.tokens);
  if (intercept) {
    SP_CHECK(in.tokens > 0 && in.ref_sum != nullptr, "intercept refit needs sums and a token count");
    sk = ops::select_rows(ctx, in.sum->reshape({in.sum->dim(0), 1}), k);  // [|K|, 1]
    sr = in.ref_sum->reshape({in.ref_sum->dim(0), 1});                    // [n, 1]
  }
  {
    const Tensor w64 = to_f64(ctx, w);
    Tensor cross = ops::select_cols(ctx, *in.cross, k);  // [n, |K|]
    if (intercept) ops::gemm_(ctx, cross, sr, false, sk, true, -1.0 / t, 1.0);
    wb = ops::matmul(ctx, w64, false, cross, false);  // [out, |K|]
    if (intercept) full = ops::matmul(ctx, w64, false, sr, false).to_f64_vector();
    if (in.toward_weights) wk = ops::select_cols(ctx, w64, k);
  }
  // [|K|, |K|] straight from the Gram, centred for the intercept.
  DampedFactor f = damped_cholesky(
      ctx,
      [&] {
        Tensor hkk = ops::select_block(ctx, *in.gram, k, k);
        if (intercept) ops::gemm_(ctx, hkk, sk, false, sk, true, -1.0 / t, 1.0);
        return hkk;
      },
      damping, what);
  if (in.toward_weights) {  // + delta W_K: the damping pulls towards the module's own weights
    ops::add_scaled_(ctx, wb, f.delta, wk);
    wk = Tensor();
  }
  Tensor x;
  {
    const Tensor wbt = ops::transpose(ctx, wb);
    wb = Tensor();
    x = ops::cholesky_solve(ctx, f.l, wbt);
  }
  f.l = Tensor();
  Refit r;
  r.w = ops::transpose(ctx, x);
  if (intercept) {
    const auto kept_part = ops::matmul(ctx, r.w, false, sk, false).to_f64_vector();  // W'_K s_K
    std::vector<double> b = bias.defined() ? bias.to_f64_vector() : std::vector<double>(full.size(), 0.0);
    for (size_t i = 0; i < b.size(); ++i) b[i] += (full[i] - kept_part[i]) / double(in.tokens);
    r.bias = f64_tensor(ctx, b);
  }
  return r;
}

double frobenius_dot(const Tensor& a, const Tensor& b) {
  SP_CHECK(a.shape() == b.shape(), "frobenius_dot: {} vs {}", a.desc(), b.desc());
  const auto x = a.to_f64_vector(), y = b.to_f64_vector();
  double s = 0;
  for (size_t i = 0; i < x.size(); ++i) s += x[i] * y[i];
  return s;
}

int64_t obs_pending_rank(int64_t n, int64_t step_columns) {
  return std::max(std::min(step_columns, n), std::min<int64_t>(1024, n / 4));
}

Tensor index_tensor(ExecContext& ctx, const std::vector<int32_t>& idx) {
  Tensor t = Tensor::from_i32(idx, {int64_t(idx.size())});
  return ctx.device().is_cpu() ? t : t.to(ctx.device());
}

}  // namespace sp::prune
