// The exact greedy over tempered marginal costs (allocate_global, allocate_tempered_direct, and the
// integer completion of ADMM) and the ADMM coordination itself (SPEC section 3, "ADMM coordination").
#include <algorithm>
#include <cmath>
#include <limits>
#include <queue>
#include <tuple>

#include "core/error.h"
#include "prune/allocation.h"
#include "prune/allocation_detail.h"

namespace sp::prune {
namespace detail {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

// A group in the global order: marginal cost per parameter, then block (= (layer, module) order),
// then position in the block. Within a block marginals never decrease, so merging the blocks'
// sequences by (marginal, block) yields exactly this order.
using GroupKey = std::tuple<double, int, int>;

// One block's part of a merge: the marginals of groups start, start + 1, ... (a window of them).
struct Sequence {
  int start = 0;
  bool has_prev = false;  // start > min_removed: `prev` is the marginal of group start - 1
  double prev = 0.0;
  bool more = false;  // the window stops before max_removed
  std::vector<double> marginal;
};

struct Merge {
  bool decided = false;  // false: a truncated window was reached before the cut was known
  bool exact = true;     // false: the start was not below the direct optimum (see exact_greedy)
  std::vector<int> removed;
  bool took_any = false;
  GroupKey last{};    // the last group taken
  double next = 0.0;  // marginal of the first group not taken (0 if none): lambda when none was taken
};

// Takes groups in the global order from the starts while the removed total gets strictly nearer
// to B: the prefix nearest to B, ties to the smaller total.
Merge merge(const GlobalBlocks& gb, const std::vector<Sequence>& seq) {
  Merge m;
  const int n = gb.size();
  int64_t total = 0;
  for (int b = 0; b < n; ++b) {
    m.removed.push_back(seq[b].start);
    total += seq[b].start * gb.info[b].unit_params;
  }
  using Head = std::pair<double, int>;
  std::priority_queue<Head, std::vector<Head>, std::greater<Head>> heads;
  for (int b = 0; b < n; ++b)
    if (!seq[b].marginal.empty()) heads.push({seq[b].marginal[0], b});
  // The smallest (last marginal, block) of the windows used up while more groups exist: their
  // next group is at or after it in the global order, so only heads before it are safe to take.
  Head blocked{kInf, n};
  bool any_blocked = false;
  while (total < gb.budget) {
    if (heads.empty()) {
      m.decided = !any_blocked;
      return m;
    }
    const Head head = heads.top();
    if (any_blocked && !(head < blocked)) return m;
    const int b = head.second;
    const int64_t next = total + gb.info[b].unit_params;
    if (std::llabs(next - gb.budget) >= std::llabs(total - gb.budget)) {
      m.next = head.first;
      break;
    }
    heads.pop();
    const int used = m.removed[b] - seq[b].start;
    m.last = {head.first, b, m.removed[b]};
    m.took_any = true;
    ++m.removed[b];
    total = next;
    if (used + 1 < static_cast<int>(seq[b].marginal.size())) {
      heads.push({seq[b].marginal[used + 1], b});
    } else if (seq[b].more) {
      blocked = std::min(blocked, head);
      any_blocked = true;
    }
  }
  if (total >= gb.budget && !heads.empty() && !m.took_any) m.next = heads.top().first;
  m.decided = true;
  return m;
}

// The merge from `start` with every block sending `window` marginals (all when window <= 0).
Merge merge_from(const GlobalBlocks& gb, const std::vector<std::vector<double>>& local_marginals,
                 const std::vector<int>& start, int window, Communicator& comm) {
  std::vector<std::vector<double>> rows;
  for (size_t i = 0; i < local_marginals.size(); ++i) {
    const BlockInfo& bi = gb.info[gb.of_local[i]];
    const int k0 = start[gb.of_local[i]];
    const int end = window > 0 ? std::min(bi.max_removed, k0 + window) : bi.max_removed;
    std::vector<double> row = {k0 > bi.min_removed ? 1.0 : 0.0, k0 > bi.min_removed ? local_marginals[i][k0 - 1] : 0.0,
                               end < bi.max_removed ? 1.0 : 0.0};
    row.insert(row.end(), local_marginals[i].begin() + k0, local_marginals[i].begin() + end);
    rows.push_back(std::move(row));
  }
  const auto all = gb.gather(rows, comm);
  std::vector<Sequence> seq(gb.size());
  for (int b = 0; b < gb.size(); ++b) {
    seq[b].start = start[b];
    seq[b].has_prev = all[b][0] != 0.0;
    seq[b].prev = all[b][1];
    seq[b].more = all[b][2] != 0.0;
    seq[b].marginal.assign(all[b].begin() + 3, all[b].end());
  }
  Merge m = merge(gb, seq);
  // From a start above the bounds the result is the direct optimum only when the start lies
  // inside it and the cut falls after every group of the start (then every prefix of the global
  // order that could be nearest to B was a candidate; see the proof sketch in exact_greedy).
  for (int b = 0; b < gb.size(); ++b)
    if (seq[b].has_prev) m.exact = m.exact && m.took_any && GroupKey{seq[b].prev, b, seq[b].start - 1} < m.last;
  return m;
}

}  // namespace

std::vector<double> tempered_marginals(const Hull& h, const Block& b, double tau_sigma) {
  const double unit = static_cast<double>(b.unit_params);
  // phi(k) = x log(x / N) - x at x = k * unit_params (phi(0) = 0): convex, so adding it keeps the
  // marginals non-decreasing; the running max only absorbs rounding.
  auto phi = [&](int k) {
    if (k == 0) return 0.0;
    const double x = k * unit;
    return x * std::log(static_cast<double>(k) / b.n_units) - x;
  };
  std::vector<double> m(b.n_units);
  double floor = -kInf;
  for (int k = 0; k < b.n_units; ++k) {
    double v = h.slope[k];
    if (tau_sigma != 0.0) v += tau_sigma * (phi(k + 1) - phi(k));
    floor = m[k] = std::max(v / unit, floor);
  }
  return m;
}

// Greedy over the tempered marginal costs: exact for the integer problem because every block's
// objective is convex in its groups. Started from the bounds it is allocate_tempered_direct.
// Started from `start` (ADMM), with S the start's groups and G the global order: the candidate
// sets are S plus a prefix of G \ S; those that are prefixes of G include the direct optimum P*
// once S lies inside P*. If moreover the last group taken comes after every group of S in G,
// the chosen set and the prefix before it are both prefixes of G, and being nearest to B among
// the candidates makes it nearest among all prefixes: it is P*. Otherwise (the start was not
// below the optimum) the greedy restarts from the bounds, so the result never depends on how well
// ADMM converged, only the traffic does.
Cut exact_greedy(const GlobalBlocks& gb, const std::vector<Block>& local, const std::vector<Hull>& hulls,
                 double tau_sigma, const std::vector<int>& start, Communicator& comm) {
  std::vector<std::vector<double>> marginals;
  for (size_t i = 0; i < local.size(); ++i) marginals.push_back(tempered_marginals(hulls[i], local[i], tau_sigma));
  std::vector<int> bounds;
  int widest = 1;
  for (const BlockInfo& bi : gb.info) {
    bounds.push_back(bi.min_removed);
    widest = std::max(widest, bi.n_units);
  }
  Merge m;
  if (start != bounds) {
    // The windows grow until the cut is known (the same decisions on every rank: same data).
    for (int window = 4;; window *= 4) {
      m = merge_from(gb, marginals, start, window, comm);
      if (m.decided || window >= widest) break;
    }
  }
  if (!m.decided || !m.exact) m = merge_from(gb, marginals, bounds, 0, comm);
  SP_CHECK(m.decided, "allocation: the greedy from the bounds did not decide");
  return {m.removed, m.took_any ? std::get<0>(m.last) : m.next};
}

}  // namespace detail

using detail::GlobalBlocks;

namespace {

// Global rule (tau = 0) and tempered direct: the exact greedy from the bounds.
Allocation tempered_greedy(const std::vector<Block>& local, const AllocationOptions& opt, double tau,
                           Communicator& comm) {
  const GlobalBlocks gb = detail::validate_and_gather(local, opt, comm);
  const auto hulls = detail::local_hulls(local);
  // tau = 0 skips the scale entirely, so the marginals are bit-for-bit the global rule's.
  const double sigma = tau > 0 ? detail::cost_scale(gb, hulls, detail::uniform_counts(gb), comm) : 1.0;
  std::vector<int> start;
  for (const auto& bi : gb.info) start.push_back(bi.min_removed);
  const detail::Cut cut = detail::exact_greedy(gb, local, hulls, tau * sigma, start, comm);
  Allocation a = detail::make_allocation(gb, cut.removed);
  a.lambda = cut.lambda;
  return a;
}

}  // namespace

Allocation allocate_global(const std::vector<Block>& local, const AllocationOptions& opt, Communicator& comm) {
  return tempered_greedy(local, opt, 0.0, comm);
}

Allocation allocate_tempered_direct(const std::vector<Block>& local, const AllocationOptions& opt, Communicator& comm) {
  SP_REQUIRE(std::isfinite(opt.temperature) && opt.temperature >= 0.0, "prune.temperature = {} must be finite and >= 0",
             opt.temperature);
  return tempered_greedy(local, opt, opt.temperature, comm);
}

namespace {

// Residual balancing only in the first iterations: rho then stays fixed, which keeps ADMM's
// convergence guarantee (and avoids the oscillations that balancing to the end can sustain).
constexpr int kBalancingIters = 50;

// One block's local step in the scaled variable y = x / S (S = B / L, so the budget is sum y = L):
//   argmin_y G(y) + rho/2 (y - d)^2 over [lo, hi],  G(y) = (f(S y) + tau sigma phi(S y)) / (S sigma),
// where G' = hull slope per parameter / sigma + tau log(x / N) is a cost per parameter of order 1
// after normalisation, so rho ~ 1 is well scaled. The subgradient is monotone: bisection.
struct LocalStep {
  const detail::Hull* hull = nullptr;
  double unit = 0, n_units = 0, scale = 0, sigma = 1, tau = 0, lo = 0, hi = 0;

  double right_derivative(double y) const {
    const double x = scale * y;
    const int k = std::clamp(static_cast<int>(std::floor(x / unit)), 0, static_cast<int>(n_units) - 1);
    double g = hull->slope[k] / (unit * sigma);
    if (tau > 0) g += tau * std::log(x / (unit * n_units));
    return g;
  }
  double solve(double rho, double d) const {
    double a = lo, b = hi;
    for (int it = 0; it < 200; ++it) {
      const double mid = 0.5 * (a + b);
      if (mid <= a || mid >= b) break;  // no representable point left between them
      (right_derivative(mid) + rho * (mid - d) < 0 ? a : b) = mid;
    }
    return 0.5 * (a + b);
  }
};

}  // namespace

// ADMM in sharing form on the continuous tempered problem. Deviations from the textbook round,
// both for bitwise independence of the rank split: instead of an allreduce of per-rank partial
// sums, every rank allgathers the new y of every block (one double per block and iteration) and
// folds sums over all blocks in (layer, module) order; every rank then holds the same c and u of
// every block. Residual balancing (Boyd et al. 3.4.1) during the first kBalancingIters
// iterations: when one residual exceeds ten times the other, rho is doubled or halved and the
// scaled dual u rescaled so that rho * u (the multiplier) is unchanged. With the normalised
// curves and the scaled variable, rho = 1 is already close; balancing mostly rescues a poor
// user-supplied rho. (Balancing to the end was measured to sustain oscillations at tau = 0.)
Allocation allocate_admm(const std::vector<Block>& local, const AllocationOptions& opt, Communicator& comm) {
  SP_REQUIRE(std::isfinite(opt.temperature) && opt.temperature >= 0.0, "prune.temperature = {} must be finite and >= 0",
             opt.temperature);
  SP_REQUIRE(std::isfinite(opt.rho) && opt.rho > 0.0, "prune.admm.rho = {} must be > 0", opt.rho);
  SP_REQUIRE(opt.max_iters >= 1, "prune.admm.max_iters = {} must be >= 1", opt.max_iters);
  SP_REQUIRE(opt.tol_primal > 0.0, "prune.admm.tol_primal = {} must be > 0", opt.tol_primal);
  SP_REQUIRE(opt.tol_dual > 0.0, "prune.admm.tol_dual = {} must be > 0", opt.tol_dual);
  const GlobalBlocks gb = detail::validate_and_gather(local, opt, comm);
  const auto hulls = detail::local_hulls(local);
  const std::vector<int> uniform = detail::uniform_counts(gb);
  const double tau = opt.temperature, sigma = detail::cost_scale(gb, hulls, uniform, comm);
  const int n = gb.size();
  std::vector<int> start;
  for (const auto& bi : gb.info) start.push_back(bi.min_removed);

  Allocation result;
  if (gb.budget <= gb.min_params || gb.budget >= gb.max_params) {
    // The bounds alone decide (every block at its min or at its max): nothing to coordinate.
    const detail::Cut cut = detail::exact_greedy(gb, local, hulls, tau * sigma, start, comm);
    result = detail::make_allocation(gb, cut.removed);
    result.lambda = cut.lambda;
    return result;
  }

  const double scale = static_cast<double>(gb.budget) / n;  // params per unit of y
  std::vector<double> c =
      tau > 0 ? detail::softmax_targets(gb, hulls, uniform, sigma, tau, comm) : detail::uniform_targets(gb);
  for (double& v : c) v /= scale;
  std::vector<double> u(n, 0.0), y(n, 0.0);
  std::vector<LocalStep> steps;
  for (size_t i = 0; i < local.size(); ++i) {
    const detail::BlockInfo& bi = gb.info[gb.of_local[i]];
    const double unit = static_cast<double>(bi.unit_params);
    steps.push_back({&hulls[i], unit, static_cast<double>(bi.n_units), scale, sigma, tau, bi.min_removed * unit / scale,
                     bi.max_removed * unit / scale});
  }
  double rho = opt.rho, r = std::numeric_limits<double>::infinity(), s = r;
  int it = 0;
  bool converged = false;
  while (it < opt.max_iters && !converged) {
    ++it;
    std::vector<double> mine;
    for (size_t i = 0; i < steps.size(); ++i) {
      const int g = gb.of_local[i];
      mine.push_back(steps[i].solve(rho, c[g] - u[g]));
    }
    y = gb.gather_scalar(mine, comm);
    // Projection of v = y + u onto the budget hyperplane sum c = n, then the dual step.
    double sum_v = 0.0;
    for (int b = 0; b < n; ++b) sum_v += y[b] + u[b];
    const double shift = (sum_v - n) / n;
    double r2 = 0.0, s2 = 0.0;
    for (int b = 0; b < n; ++b) {
      const double cb = y[b] + u[b] - shift;
      r2 += (y[b] - cb) * (y[b] - cb);
      s2 += (cb - c[b]) * (cb - c[b]);
      u[b] += y[b] - cb;
      c[b] = cb;
    }
    r = std::sqrt(r2) / n;
    s = rho * std::sqrt(s2) / n;
    converged = r < opt.tol_primal && s < opt.tol_dual;
    if (!converged && it <= kBalancingIters && (r > 10 * s || s > 10 * r)) {
      const double f = r > 10 * s ? 2.0 : 0.5;
      rho *= f;
      for (double& v : u) v /= f;
    }
  }

  // Integer completion: one group below the continuous solution, then the exact greedy.
  for (int b = 0; b < n; ++b) {
    const auto& bi = gb.info[b];
    const int below = static_cast<int>(std::floor(y[b] * scale / static_cast<double>(bi.unit_params))) - 1;
    start[b] = std::clamp(below, bi.min_removed, bi.max_removed);
  }
  const detail::Cut cut = detail::exact_greedy(gb, local, hulls, tau * sigma, start, comm);
  result = detail::make_allocation(gb, cut.removed);
  // At a fixed point G'(y_b) = -rho u_b for every free block (u += y - c makes u negative when
  // removing costs something), so the common multiplier is -rho mean(u), times sigma for raw units.
  double mean_u = 0.0;
  for (double v : u) mean_u += v;
  result.lambda = -rho * (mean_u / n) * sigma;
  result.iterations = it;
  result.primal_residual = r;
  result.dual_residual = s;
  result.converged = converged;
  return result;
}

}  // namespace sp::prune
