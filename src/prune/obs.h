#pragma once
// Least squares on a consumer module (o_proj, down_proj / fc2): the structured OBS saliency of
// removing groups of its input columns, the greedy removal curve it gives, and the refit of the
// kept columns (../shared/SPEC.md section 3, "Reconstruction").
//
// Notation (activations in rows, y = x W^T): W [out, n] the consumer's weights, X [T, n] its
// calibration inputs, H = X^T X (n x n). Removing the column set G and refitting the rest
// optimally raises the output error by the structured OBS saliency
//     tr( W_G [ (H^-1)_GG ]^-1 W_G^T )
// (SlimGPT, ZipLM); after removal, W and H^-1 are updated in closed form, so a greedy removal
// gives an error curve E(k) for k groups removed, in one unit (squared output error over the
// calibration tokens) for every module of every layer.
#include <functional>
#include <string>
#include <vector>

#include "core/context.h"
#include "core/tensor.h"

namespace sp::prune {

// (H + delta I) factored, delta = damping x mean(diag H), escalated x10 (logged) until the
// Cholesky factorisation succeeds; InputError naming `what` after 8 escalations.
struct DampedFactor {
  Tensor l;  // [n, n] F64, lower
  double delta = 0;
  int escalations = 0;
};
DampedFactor damped_cholesky(ExecContext& ctx, const Tensor& h, double damping, const std::string& what);
// The same for a matrix made on demand: `make` gives a fresh copy, factored in place (one [n, n]
// matrix beside whatever `make` reads; a failed attempt asks for another copy).
DampedFactor damped_cholesky(ExecContext& ctx, const std::function<Tensor()>& make, double damping,
                             const std::string& what);

struct RemovalCurve {
  std::vector<int32_t> order;    // groups in removal order (cheapest first), max_removed of them
  std::vector<double> cost;      // cost[k]: error after removing order[0..k), cost[0] = 0
  std::vector<double> saliency;  // every group's saliency against the full module (step 0)
};

// Greedy structured OBS. w: [out, n] F64 (the module's target weights); hinv: (H + delta I)^-1,
// [n, n] F64 (both consumed: updated in place); groups: the columns of each group, all groups of one
// size (neurons, heads, KV groups). `step` groups are removed per update (1: exact greedy); a step's
// error is split over its groups in proportion to their saliencies.
RemovalCurve obs_greedy(ExecContext& ctx, Tensor w, Tensor hinv, const std::vector<std::vector<int32_t>>& groups,
                        int max_removed, int step);
// The rank of the updates obs_greedy holds before applying them to H^-1 (n columns, step_columns
// removed per update): ~n / 4 up to 1024, at least one update (at most n). Its two [rank, n] F64
// factors are part of the curve's memory (cli/memory_model.cpp).
int64_t obs_pending_rank(int64_t n, int64_t step_columns);

// Refit of the kept columns K towards a target: W'_K = W C_{:,K} (H_KK + delta I)^{-1}, where
// C = R^T X pairs the target activations R with the pruned model's X (C = H: the module's own
// output on its current inputs). With an intercept (a module with a bias), X and R are centred
// first (H - s s^T / T, C - s_R s^T / T, unpenalised intercept) and the bias refit with the weights:
// b' = b + (W s_R - W'_K s_K) / T, so the removed channels' mean contribution moves into the bias.
// toward_weights: the damping regularises towards the module's own kept weights instead of zero,
// W'_K = (W C_{:,K} + delta W_K)(H_KK + delta I)^{-1} (the OBS / SparseGPT form): where the data say
// little (a weakly excited channel) a weight stays as it was rather than shrinking to 0.
struct RefitStats {
  const Tensor* gram = nullptr;     // [n, n] F64, X^T X
  const Tensor* cross = nullptr;    // [n, n] F64, R^T X (gram itself for the pruned target)
  const Tensor* sum = nullptr;      // [n] F64 column sums of X: fits an intercept when given
  const Tensor* ref_sum = nullptr;  // [n] F64 column sums of R (sum for the pruned target)
  int64_t tokens = 0;
  bool toward_weights = false;
};
struct Refit {
  Tensor w;     // [out, |K|] F64
  Tensor bias;  // [out] F64 (intercept fits only)
};
// w: [out, n] any float dtype; bias: [out] or undefined (zero).
Refit refit_columns(ExecContext& ctx, const Tensor& w, const Tensor& bias, const RefitStats& in,
                    const std::vector<int32_t>& kept, double damping, const std::string& what);

// sum_ij a_ij b_ij on the host (F64 result), any float dtypes of equal shape.
double frobenius_dot(const Tensor& a, const Tensor& b);

// An I32 index tensor on ctx's device.
Tensor index_tensor(ExecContext& ctx, const std::vector<int32_t>& idx);

}  // namespace sp::prune
