// Least squares on a consumer module against independent float64 math: the refit equals the
// normal-equations solution computed here by Gaussian elimination; the structured OBS saliency of
// a group equals the output error of removing it and refitting the rest explicitly; the greedy
// curve is the error of explicit refits along its own order; scores follow their definitions.
// Every test runs on the CPU and, when one is visible, on the GPU.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <random>

#include "core/communicator.h"
#include "core/error.h"
#include "kernels/ops.h"
#include "kernels/ops_linalg.h"
#include "model/model_test_util.h"
#include "prune/obs.h"
#include "prune/scores.h"
#include "prune/statistics.h"

namespace sp::prune {
namespace {

using Mat = std::vector<double>;  // row-major

struct Problem {
  int out = 0, n = 0, t = 0;
  Mat w, x, r;  // w [out, n]; x, r [t, n]: pruned inputs and dense (target) inputs
};

Problem random_problem(std::mt19937& g, int out, int n, int t) {
  std::normal_distribution<double> d(0.0, 1.0);
  Problem p{out, n, t, Mat(size_t(out * n)), Mat(size_t(t * n)), Mat(size_t(t * n))};
  for (double& v : p.w) v = d(g);
  // Correlated inputs with uneven channel scales, like real activations.
  Mat mix(size_t(n * n));
  for (double& v : mix) v = d(g) * 0.3;
  for (int i = 0; i < n; ++i) mix[size_t(i * n + i)] += 1.0 + 0.2 * i;
  for (int s = 0; s < t; ++s)
    for (int j = 0; j < n; ++j) {
      double a = 0, b = 0;
      for (int k = 0; k < n; ++k) {
        const double z = d(g);
        a += z * mix[size_t(k * n + j)];
        b += (z + 0.1 * d(g)) * mix[size_t(k * n + j)];
      }
      p.x[size_t(s * n + j)] = a;
      p.r[size_t(s * n + j)] = b;
    }
  return p;
}

// a^T b for [t, n] x [t, m].
Mat at_b(const Mat& a, const Mat& b, int t, int n, int m) {
  Mat c(size_t(n * m), 0.0);
  for (int s = 0; s < t; ++s)
    for (int i = 0; i < n; ++i)
      for (int j = 0; j < m; ++j) c[size_t(i * m + j)] += a[size_t(s * n + i)] * b[size_t(s * m + j)];
  return c;
}

// Solves A X = B (A [n, n], B [n, m]) by Gaussian elimination with partial pivoting.
Mat solve(Mat a, Mat b, int n, int m) {
  for (int c = 0; c < n; ++c) {
    int piv = c;
    for (int r = c + 1; r < n; ++r)
      if (std::abs(a[size_t(r * n + c)]) > std::abs(a[size_t(piv * n + c)])) piv = r;
    for (int k = 0; k < n; ++k) std::swap(a[size_t(c * n + k)], a[size_t(piv * n + k)]);
    for (int k = 0; k < m; ++k) std::swap(b[size_t(c * m + k)], b[size_t(piv * m + k)]);
    for (int r = 0; r < n; ++r) {
      if (r == c) continue;
      const double f = a[size_t(r * n + c)] / a[size_t(c * n + c)];
      for (int k = 0; k < n; ++k) a[size_t(r * n + k)] -= f * a[size_t(c * n + k)];
      for (int k = 0; k < m; ++k) b[size_t(r * m + k)] -= f * b[size_t(c * m + k)];
    }
  }
  for (int r = 0; r < n; ++r)
    for (int k = 0; k < m; ++k) b[size_t(r * m + k)] /= a[size_t(r * n + r)];
  return b;
}

// The float64 normal-equations refit of the kept columns K towards the target R W^T:
// W'_K = W C[:, K] (H_KK + delta I)^-1 with H = X^T X, C = R^T X, delta = damping * mean(diag H_KK).
Mat reference_refit(const Problem& p, const std::vector<int32_t>& kept, double damping, bool dense_target) {
  const Mat h = at_b(p.x, p.x, p.t, p.n, p.n), c = at_b(dense_target ? p.r : p.x, p.x, p.t, p.n, p.n);
  const int k = int(kept.size());
  Mat hkk(size_t(k * k)), rhs(size_t(k * p.out));  // rhs = (W C[:, K])^T
  double mean = 0;
  for (int i = 0; i < k; ++i) mean += h[size_t(kept[size_t(i)] * p.n + kept[size_t(i)])] / k;
  for (int i = 0; i < k; ++i) {
    for (int j = 0; j < k; ++j) hkk[size_t(i * k + j)] = h[size_t(kept[size_t(i)] * p.n + kept[size_t(j)])];
    hkk[size_t(i * k + i)] += damping * mean;
    for (int o = 0; o < p.out; ++o) {
      double s = 0;
      for (int q = 0; q < p.n; ++q) s += p.w[size_t(o * p.n + q)] * c[size_t(q * p.n + kept[size_t(i)])];
      rhs[size_t(i * p.out + o)] = s;
    }
  }
  const Mat sol = solve(hkk, rhs, k, p.out);  // [k, out]
  Mat wk(size_t(p.out * k));
  for (int o = 0; o < p.out; ++o)
    for (int i = 0; i < k; ++i) wk[size_t(o * k + i)] = sol[size_t(i * p.out + o)];
  return wk;
}

// ||X W^T - X_K W'_K^T||^2 + delta-free: the output error of a refit on the module's own inputs.
double output_error(const Problem& p, const Mat& w_target, const std::vector<int32_t>& kept, const Mat& wk) {
  double e = 0;
  const int k = int(kept.size());
  for (int s = 0; s < p.t; ++s)
    for (int o = 0; o < p.out; ++o) {
      double y = 0, yk = 0;
      for (int q = 0; q < p.n; ++q) y += p.x[size_t(s * p.n + q)] * w_target[size_t(o * p.n + q)];
      for (int i = 0; i < k; ++i) yk += p.x[size_t(s * p.n + kept[size_t(i)])] * wk[size_t(o * k + i)];
      e += (y - yk) * (y - yk);
    }
  return e;
}

Tensor on(const Device& dev, const Mat& v, Shape s) {
  std::vector<float> f(v.begin(), v.end());
  Tensor t = Tensor::from_f32(f, s);
  return dev.is_cpu() ? t : t.to(dev);
}

// An exact F64 tensor of v on dev.
Tensor on_f64(const Device& dev, const Mat& v, Shape s) {
  Tensor t = Tensor::empty(std::move(s), DType::F64);
  std::copy(v.begin(), v.end(), t.data<double>());
  return dev.is_cpu() ? t : t.to(dev);
}

// Indices v on dev (I32).
Tensor index_on(const Device& dev, const std::vector<int32_t>& v) {
  Tensor t = Tensor::from_i32(v, {int64_t(v.size())});
  return dev.is_cpu() ? t : t.to(dev);
}

struct Stats {
  Tensor gram, cross;
};
// H and C accumulated by the statistics code from fp32 activations, two batches.
Stats statistics(ExecContext& ctx, const Problem& p) {
  ChannelStats s;
  const int half = p.t / 2;
  for (int b = 0; b < 2; ++b) {
    const int s0 = b * half, s1 = b ? p.t : half;
    Mat xs(p.x.begin() + s0 * p.n, p.x.begin() + s1 * p.n), rs(p.r.begin() + s0 * p.n, p.r.begin() + s1 * p.n);
    const Tensor x = on(ctx.device(), xs, {s1 - s0, p.n}), r = on(ctx.device(), rs, {s1 - s0, p.n});
    s.add(ctx, x, &r, true, true);
  }
  const auto self = make_self_communicator();
  s.reduce(ctx, *self, p.n, true, true, "test");
  EXPECT_EQ(s.tokens, p.t);
  return {s.gram, s.cross};
}

double rel_diff(const std::vector<double>& a, const Mat& b) {
  double num = 0, den = 0;
  for (size_t i = 0; i < b.size(); ++i) num += (a[i] - b[i]) * (a[i] - b[i]), den += b[i] * b[i];
  return std::sqrt(num / std::max(den, 1e-300));
}

class Obs : public ::testing::TestWithParam<Device> {};

TEST_P(Obs, RefitMatchesNormalEquations) {
  ExecContext ctx(GetParam());
  std::mt19937 g(7);
  const Problem p = random_problem(g, 6, 12, 200);
  const Stats st = statistics(ctx, p);
  const std::vector<int32_t> kept = {0, 2, 3, 5, 8, 9, 11};
  for (bool dense : {false, true}) {
    const Tensor w = on(ctx.device(), p.w, {p.out, p.n});
    RefitStats ri;
    ri.gram = &st.gram;
    ri.cross = dense ? &st.cross : &st.gram;
    const Tensor got = refit_columns(ctx, w, Tensor(), ri, kept, 0.01, "test").w;
    ASSERT_EQ(got.shape(), (Shape{p.out, int64_t(kept.size())}));
    EXPECT_LT(rel_diff(got.to_f64_vector(), reference_refit(p, kept, 0.01, dense)), 1e-5) << "dense " << dense;
  }
}

// With an intercept, the refit is the least-squares optimum over weights AND bias: the residual
// against the target has zero mean (bias optimal) and is orthogonal to every kept input channel
// (weights optimal), up to the tiny damping.
TEST_P(Obs, InterceptRefitIsOptimalInWeightsAndBias) {
  ExecContext ctx(GetParam());
  std::mt19937 g(5);
  Problem p = random_problem(g, 4, 10, 400);
  for (int s = 0; s < p.t; ++s)
    for (int j = 0; j < p.n; ++j) p.x[size_t(s * p.n + j)] += 0.5 + 0.1 * j, p.r[size_t(s * p.n + j)] += 0.4;
  ChannelStats st;
  const Tensor x = on(ctx.device(), p.x, {p.t, p.n}), r = on(ctx.device(), p.r, {p.t, p.n});
  st.add(ctx, x, &r, true, true);
  const auto self = make_self_communicator();
  st.reduce(ctx, *self, p.n, true, true, "test");
  const std::vector<int32_t> kept = {1, 2, 4, 7, 8};
  const Mat bias = {0.3, -0.2, 0.1, 0.0};
  RefitStats ri;
  ri.gram = &st.gram;
  ri.cross = &st.cross;
  ri.sum = &st.sum;
  ri.ref_sum = &st.ref_sum;
  ri.tokens = st.tokens;
  const Refit rf =
      refit_columns(ctx, on(ctx.device(), p.w, {p.out, p.n}), on(ctx.device(), bias, {p.out}), ri, kept, 1e-10, "test");
  const auto wk = rf.w.to_f64_vector(), bk = rf.bias.to_f64_vector();
  const int k = int(kept.size());
  Mat mean_res(size_t(p.out), 0.0), orth(size_t(k * p.out), 0.0);
  double scale = 0;
  for (int s = 0; s < p.t; ++s)
    for (int o = 0; o < p.out; ++o) {
      double y = bias[size_t(o)], yk = bk[size_t(o)];
      for (int q = 0; q < p.n; ++q) y += p.r[size_t(s * p.n + q)] * p.w[size_t(o * p.n + q)];
      for (int i = 0; i < k; ++i) yk += p.x[size_t(s * p.n + kept[size_t(i)])] * wk[size_t(o * k + i)];
      const double e = y - yk;
      mean_res[size_t(o)] += e / p.t;
      for (int i = 0; i < k; ++i) orth[size_t(i * p.out + o)] += p.x[size_t(s * p.n + kept[size_t(i)])] * e;
      scale += y * y;
    }
  scale = std::sqrt(scale / p.t / p.out);
  for (double m : mean_res) EXPECT_LT(std::abs(m), 1e-6 * scale);
  for (double v : orth) EXPECT_LT(std::abs(v) / p.t, 1e-5 * scale * 3);
}

// The saliency of a group is the error of removing it with the best refit of the rest (no
// damping in the limit: tiny damping here), measured directly on the activations.
TEST_P(Obs, SaliencyIsTheExplicitRefitError) {
  ExecContext ctx(GetParam());
  std::mt19937 g(11);
  const Problem p = random_problem(g, 5, 12, 300);
  const Stats st = statistics(ctx, p);
  const std::vector<std::vector<int32_t>> groups = {{0, 1, 2}, {3, 4, 5}, {6, 7, 8}, {9, 10, 11}};
  const double damping = 1e-9;
  const DampedFactor f = damped_cholesky(ctx, st.gram, damping, "test");
  const Tensor w64 = ops::convert(ctx, on(ctx.device(), p.w, {p.out, p.n}), DType::F64);
  const RemovalCurve c = obs_greedy(ctx, w64.clone(), ops::cholesky_inverse(ctx, f.l), groups, 3, 1);
  ASSERT_EQ(c.saliency.size(), groups.size());
  for (size_t u = 0; u < groups.size(); ++u) {
    std::vector<int32_t> kept;
    for (size_t v = 0; v < groups.size(); ++v)
      if (v != u) kept.insert(kept.end(), groups[v].begin(), groups[v].end());
    const double want = output_error(p, p.w, kept, reference_refit(p, kept, damping, false));
    EXPECT_NEAR(c.saliency[u], want, 1e-4 * want) << "group " << u;
  }
  // The curve follows its own order: cost[k] is the error of removing order[0..k) and refitting.
  ASSERT_EQ(c.order.size(), 3u);
  for (size_t k = 1; k <= c.order.size(); ++k) {
    std::vector<bool> gone(groups.size(), false);
    for (size_t i = 0; i < k; ++i) gone[size_t(c.order[i])] = true;
    std::vector<int32_t> kept;
    for (size_t v = 0; v < groups.size(); ++v)
      if (!gone[v]) kept.insert(kept.end(), groups[v].begin(), groups[v].end());
    const double want = output_error(p, p.w, kept, reference_refit(p, kept, damping, false));
    EXPECT_NEAR(c.cost[k], want, 1e-4 * want) << "k " << k;
    EXPECT_GE(c.cost[k], c.cost[k - 1]);
  }
  // Greedy: the first group removed is the cheapest one.
  EXPECT_EQ(c.saliency[size_t(c.order[0])], *std::min_element(c.saliency.begin(), c.saliency.end()));
}

// Single-column groups removed several per update: W and H^-1 shrink to the live columns as the
// greedy goes (obs.cpp compacts them), and at every update boundary the curve is still the error of
// removing its own order and refitting the rest explicitly.
TEST_P(Obs, SteppedCurveOverShrinkingColumnsIsTheExplicitRefitError) {
  ExecContext ctx(GetParam());
  std::mt19937 g(3);
  const Problem p = random_problem(g, 5, 40, 300);
  const Stats st = statistics(ctx, p);
  std::vector<std::vector<int32_t>> groups(size_t(p.n));
  for (int j = 0; j < p.n; ++j) groups[size_t(j)] = {j};
  const double damping = 1e-9;
  const DampedFactor f = damped_cholesky(ctx, st.gram, damping, "test");
  const Tensor w64 = ops::convert(ctx, on(ctx.device(), p.w, {p.out, p.n}), DType::F64);
  const int step = 3, max_removed = 32;
  const RemovalCurve c = obs_greedy(ctx, w64.clone(), ops::cholesky_inverse(ctx, f.l), groups, max_removed, step);
  ASSERT_EQ(c.order.size(), size_t(max_removed));
  std::vector<int32_t> sorted = c.order;
  std::sort(sorted.begin(), sorted.end());
  EXPECT_EQ(std::adjacent_find(sorted.begin(), sorted.end()), sorted.end()) << "a group removed twice";
  for (int k = step; k <= max_removed; k = std::min(k + step, max_removed)) {
    std::vector<bool> gone(size_t(p.n), false);
    for (int i = 0; i < k; ++i) gone[size_t(c.order[size_t(i)])] = true;
    std::vector<int32_t> kept;
    for (int j = 0; j < p.n; ++j)
      if (!gone[size_t(j)]) kept.push_back(j);
    const double want = output_error(p, p.w, kept, reference_refit(p, kept, damping, false));
    EXPECT_NEAR(c.cost[size_t(k)], want, 1e-4 * want) << "k " << k;
    if (k == max_removed) break;
  }
}

// Every block's saliency from one batched call equals tr(A_g^{-1} W_g^T W_g) solved here by Gaussian
// elimination, for small blocks (one batched factorisation on the GPU) and large ones (one at a
// time); a block that is not positive definite gives +inf and leaves the others alone.
TEST_P(Obs, BlockSaliencesMatchAPerBlockSolve) {
  ExecContext ctx(GetParam());
  std::mt19937 g(17);
  std::normal_distribution<double> d(0.0, 1.0);
  for (const int block : {3, 260}) {
    const int m = block < 100 ? 3 : 2, n = m * block, out = 4, t_rows = n + 8;
    Mat x(size_t(t_rows * n)), a(size_t(n * n), 0.0), w(size_t(out * n));
    for (double& v : x) v = d(g);
    for (int i = 0; i < n; ++i)  // a = X^T X / T + I: symmetric positive definite
      for (int j = 0; j < n; ++j) {
        double s = i == j ? 1.0 : 0.0;
        for (int t = 0; t < t_rows; ++t) s += x[size_t(t * n + i)] * x[size_t(t * n + j)] / t_rows;
        a[size_t(i * n + j)] = s;
      }
    for (double& v : w) v = d(g);
    for (int bad : {-1, 1}) {
      Mat ab = a;
      if (bad >= 0)
        for (int i = 0; i < block; ++i) ab[size_t((bad * block + i) * n + bad * block + i)] = -1.0;
      std::vector<int32_t> all(static_cast<size_t>(n));
      std::iota(all.begin(), all.end(), 0);
      Tensor at =
          ops::select_diagonal_blocks(ctx, on_f64(ctx.device(), ab, {n, n}), index_on(ctx.device(), all), block);
      const std::vector<double> got = ops::block_saliencies(ctx, at, on_f64(ctx.device(), w, {out, n}), block);
      ASSERT_EQ(got.size(), size_t(m));
      for (int q = 0; q < m; ++q) {
        if (q == bad) {
          EXPECT_TRUE(std::isinf(got[size_t(q)])) << "block " << q << " of " << block << ": " << got[size_t(q)];
          continue;
        }
        Mat ag(size_t(block * block)), mg(size_t(block * block), 0.0);
        for (int i = 0; i < block; ++i)
          for (int j = 0; j < block; ++j) {
            ag[size_t(i * block + j)] = ab[size_t((q * block + i) * n + q * block + j)];
            for (int o = 0; o < out; ++o)
              mg[size_t(i * block + j)] += w[size_t(o * n + q * block + i)] * w[size_t(o * n + q * block + j)];
          }
        const Mat sol = solve(ag, mg, block, block);
        double want = 0;
        for (int i = 0; i < block; ++i) want += sol[size_t(i * block + i)];
        EXPECT_NEAR(got[size_t(q)], want, 1e-9 * want) << "block " << q << " of size " << block;
      }
    }
  }
}

// The held updates' rank: about n / 4 up to 1024, at least one update's columns, never more than n (a
// set prune.obs_step times a wide group's width once asked for a 112 GiB buffer at n = 8192).
TEST(ObsRank, HeldUpdatesAreBoundedByTheWidth) {
  EXPECT_EQ(obs_pending_rank(11008, 43), 1024);
  EXPECT_EQ(obs_pending_rank(40, 3), 10);
  EXPECT_EQ(obs_pending_rank(28672, 1792), 1792);
  EXPECT_EQ(obs_pending_rank(8192, 1792 * 1024), 8192);
  EXPECT_EQ(obs_pending_rank(2, 1), 1);
}

// Single-column saliencies on the device: ||W_:,j||^2 / d_j, +inf where d_j is not positive.
TEST_P(Obs, ColumnSaliencesFollowTheirDefinition) {
  ExecContext ctx(GetParam());
  const Mat w = {1.0, -2.0, 0.5, 3.0, 0.25, 4.0};  // [2, 3]
  const Mat d = {2.0, -1.0, 0.5};                  // the diagonal of H^-1
  const std::vector<double> got =
      ops::column_saliencies(ctx, on_f64(ctx.device(), w, {2, 3}), on_f64(ctx.device(), d, {3})).to_f64_vector();
  ASSERT_EQ(got.size(), 3u);
  EXPECT_DOUBLE_EQ(got[0], (1.0 + 9.0) / 2.0);
  EXPECT_TRUE(std::isinf(got[1]));
  EXPECT_DOUBLE_EQ(got[2], (0.25 + 16.0) / 0.5);
}

// A degenerate Gram matrix (a channel that is always zero) still factors with damping; a NaN one
// is an input error naming the module.
TEST_P(Obs, DampingAndNonFiniteStatistics) {
  ExecContext ctx(GetParam());
  Mat h(16, 0.0);
  h[0] = 4, h[5] = 1, h[10] = 0, h[15] = 2;
  const Tensor ht = ops::convert(ctx, on(ctx.device(), h, {4, 4}), DType::F64);
  EXPECT_NO_THROW(damped_cholesky(ctx, ht, 0.01, "layer 3 mlp"));
  h[5] = std::nan("");
  const Tensor bad = ops::convert(ctx, on(ctx.device(), h, {4, 4}), DType::F64);
  const std::string e = test::input_error([&] { damped_cholesky(ctx, bad, 0.01, "layer 3 mlp"); });
  EXPECT_NE(e.find("layer 3 mlp"), std::string::npos) << e;
}

INSTANTIATE_TEST_SUITE_P(Devices, Obs, ::testing::ValuesIn(test::model_test_devices()), test::device_param_name);

// bf16 activations (GPU only): the tensor-core Gram and cross-Gram, exact products summed in fp32
// per batch, against float64 sums of the same bf16 values; and the fp64 products on request.
TEST(ObsGpu, Bf16GramMatchesFloat64SumsOfTheBf16Values) {
  SP_REQUIRE_GPU();
  ExecContext ctx(Device::cuda(0));
  std::mt19937 g(7);
  const Problem p = random_problem(g, 4, 96, 3000);
  const Tensor x16 = ops::convert(ctx, on(ctx.device(), p.x, {p.t, p.n}), DType::BF16);
  const Tensor r16 = ops::convert(ctx, on(ctx.device(), p.r, {p.t, p.n}), DType::BF16);
  // The bf16 values themselves, as doubles, and their Gram / cross-Gram in float64.
  const std::vector<double> xv = x16.to(Device::cpu()).to_f64_vector(), rv = r16.to(Device::cpu()).to_f64_vector();
  Mat h(size_t(p.n * p.n), 0.0), c(size_t(p.n * p.n), 0.0);
  for (int t = 0; t < p.t; ++t)
    for (int i = 0; i < p.n; ++i)
      for (int j = 0; j < p.n; ++j) {
        h[size_t(i * p.n + j)] += xv[size_t(t * p.n + i)] * xv[size_t(t * p.n + j)];
        c[size_t(i * p.n + j)] += rv[size_t(t * p.n + i)] * xv[size_t(t * p.n + j)];
      }
  for (bool fp64 : {false, true}) {
    ChannelStats s;
    s.add(ctx, x16, &r16, true, true, fp64);
    const auto self = make_self_communicator();
    s.reduce(ctx, *self, p.n, true, true, "test");
    const double dh = rel_diff(s.gram.to(Device::cpu()).to_f64_vector(), h);
    const double dc = rel_diff(s.cross.to(Device::cpu()).to_f64_vector(), c);
    std::printf("  bf16 activations, %s products: Gram rel diff %.3g, cross-Gram %.3g\n", fp64 ? "fp64" : "fp32-summed",
                dh, dc);
    EXPECT_LT(dh, fp64 ? 1e-14 : 1e-5);
    EXPECT_LT(dc, fp64 ? 1e-14 : 1e-5);
  }
}

// The collector reduces its taps in the alphabetical order of their names, the order of the
// collectives on every rank: with non-finite activations at mid_resid and at layer_out, the error
// names layer_out. A tap that was not wanted is not collected.
TEST(Statistics, CollectorReducesItsTapsInTheOrderOfTheirNames) {
  using model::TapPoint;
  ExecContext ctx(Device::cpu());
  StatsCollector col(ctx);
  col.want(TapPoint::MidResid);
  col.want(TapPoint::LayerOut);
  const model::Tap tap = col.tap();
  const Tensor bad = Tensor::from_f32({1.f, std::numeric_limits<float>::quiet_NaN()}, {1, 2});
  for (TapPoint at : {TapPoint::AttnIn, TapPoint::MidResid, TapPoint::LayerOut}) tap(0, at, bad);
  EXPECT_THROW(col.at(TapPoint::AttnIn), RuntimeFailure);
  const auto self = make_self_communicator();
  try {
    col.reduce(*self, {{TapPoint::MidResid, 2}, {TapPoint::LayerOut, 2}}, "layer 0");
    FAIL() << "expected an InputError";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("layer 0 layer_out: "), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace sp::prune
