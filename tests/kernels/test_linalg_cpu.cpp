// The CPU bodies of the pruning ops (kernels/ops_linalg.h) against naive float64 loops written here
// from each op's definition, through the front ends (which also get their error paths checked).
// These bodies are the oracle of the CUDA bodies (test_linalg_gpu), so they are checked against math.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "core/context.h"
#include "core/error.h"
#include "kernels/ops.h"
#include "kernels/ops_linalg.h"
#include "test_util.h"

namespace sp {
namespace {

using Vec = std::vector<double>;
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// Random values of a normal distribution, as a host tensor of dtype dt (F32 or F64; BF16 / F16 through
// ops::convert, so the values are those of the dtype).
Tensor rand_tensor(std::mt19937& g, Shape shape, DType dt, double scale = 1.0, double mean = 0.0) {
  std::normal_distribution<double> n(mean, scale);
  Tensor t = Tensor::empty(shape, DType::F64);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<double>()[i] = n(g);
  if (dt == DType::F64) return t;
  ExecContext ctx(Device::cpu());
  return ops::convert(ctx, t, dt);
}

Tensor from_vec(const Vec& v, Shape shape, DType dt) {
  Tensor t = Tensor::empty(shape, DType::F64);
  std::copy(v.begin(), v.end(), t.data<double>());
  if (dt == DType::F64) return t;
  ExecContext ctx(Device::cpu());
  return ops::convert(ctx, t, dt);
}

// max |a - b| / (atol + rtol |b|) <= 1, and NaN never matches.
void expect_close(const Tensor& got, const Vec& want, double atol, double rtol, const std::string& what) {
  const Vec g = got.to_f64_vector();
  ASSERT_EQ(g.size(), want.size()) << what;
  double worst = 0.0;
  size_t at = 0;
  for (size_t i = 0; i < g.size(); ++i) {
    const double e = std::abs(g[i] - want[i]);
    const double r = e == 0.0        ? 0.0
                     : std::isnan(e) ? std::numeric_limits<double>::infinity()
                                     : e / (atol + rtol * std::abs(want[i]));
    if (r > worst) worst = r, at = i;
  }
  EXPECT_LE(worst, 1.0) << what << ": element " << at << " got " << g[at] << " want " << want[at];
}

// Naive float64 helpers on row-major vectors.
Vec matmul_f64(const Vec& a, int64_t ar, int64_t ac, bool ta, const Vec& b, int64_t br, int64_t bc, bool tb) {
  const int64_t m = ta ? ac : ar, k = ta ? ar : ac, n = tb ? br : bc;
  Vec c(size_t(m * n), 0.0);
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      double s = 0;
      for (int64_t p = 0; p < k; ++p) {
        const double x = ta ? a[size_t(p * ac + i)] : a[size_t(i * ac + p)];
        const double y = tb ? b[size_t(j * bc + p)] : b[size_t(p * bc + j)];
        s += x * y;
      }
      c[size_t(i * n + j)] = s;
    }
  return c;
}

// A = G G^T + n I: symmetric, comfortably positive definite.
Vec spd_f64(std::mt19937& g, int64_t n) {
  std::normal_distribution<double> d(0.0, 1.0);
  Vec gm(size_t(n * n));
  for (auto& x : gm) x = d(g);
  Vec a = matmul_f64(gm, n, n, false, gm, n, n, true);
  for (int64_t i = 0; i < n; ++i) a[size_t(i * n + i)] += double(n);
  return a;
}

// Lower-triangular L with A = L L^T (float64, textbook).
Vec cholesky_f64(const Vec& a, int64_t n) {
  Vec l(size_t(n * n), 0.0);
  for (int64_t j = 0; j < n; ++j) {
    double d = a[size_t(j * n + j)];
    for (int64_t p = 0; p < j; ++p) d -= l[size_t(j * n + p)] * l[size_t(j * n + p)];
    l[size_t(j * n + j)] = std::sqrt(d);
    for (int64_t i = j + 1; i < n; ++i) {
      double s = a[size_t(i * n + j)];
      for (int64_t p = 0; p < j; ++p) s -= l[size_t(i * n + p)] * l[size_t(j * n + p)];
      l[size_t(i * n + j)] = s / l[size_t(j * n + j)];
    }
  }
  return l;
}

// x with (L L^T) x = b, b: [n, m] (forward then backward substitution per column).
Vec solve_f64(const Vec& l, int64_t n, const Vec& b, int64_t m) {
  Vec x = b;
  for (int64_t c = 0; c < m; ++c) {
    for (int64_t i = 0; i < n; ++i) {
      double s = x[size_t(i * m + c)];
      for (int64_t p = 0; p < i; ++p) s -= l[size_t(i * n + p)] * x[size_t(p * m + c)];
      x[size_t(i * m + c)] = s / l[size_t(i * n + i)];
    }
    for (int64_t i = n - 1; i >= 0; --i) {
      double s = x[size_t(i * m + c)];
      for (int64_t p = i + 1; p < n; ++p) s -= l[size_t(p * n + i)] * x[size_t(p * m + c)];
      x[size_t(i * m + c)] = s / l[size_t(i * n + i)];
    }
  }
  return x;
}

Vec identity_f64(int64_t n) {
  Vec e(size_t(n * n), 0.0);
  for (int64_t i = 0; i < n; ++i) e[size_t(i * n + i)] = 1.0;
  return e;
}

double max_abs(const Vec& v) {
  double m = 0;
  for (double x : v) m = std::max(m, std::abs(x));
  return m;
}

class LinalgCpu : public ::testing::Test {
 protected:
  ExecContext ctx{Device::cpu()};
  std::mt19937 rng{20260612};
};

// ---- statistics ------------------------------------------------------------------------------

// The refit's damping term: y += alpha x rounds the product, then the sum, exactly as the GEMM
// y += x (alpha I) it replaces (Eigen's products contract into FMAs on this -march=native build).
TEST_F(LinalgCpu, AddScaledEqualsTheGemmAgainstAScaledIdentity) {
  for (const DType dt : {DType::F64, DType::F32}) {
    const Tensor x = rand_tensor(rng, {300, 71}, dt);
    Tensor y = rand_tensor(rng, {300, 71}, dt), g = ops::convert(ctx, y, dt);
    Tensor eye = Tensor::zeros({71, 71}, dt);
    ops::add_diagonal_(ctx, eye, 0.3719);
    ops::gemm_(ctx, g, x, false, eye, false, 1.0, 1.0);
    ops::add_scaled_(ctx, y, 0.3719, x);
    EXPECT_EQ(std::memcmp(y.raw(), g.raw(), y.nbytes()), 0) << dtype_name(dt);
    Tensor before = ops::convert(ctx, y, dt);
    ops::add_scaled_(ctx, y, 0.0, x);  // and it is an update in place (0 leaves y)
    EXPECT_EQ(std::memcmp(y.raw(), before.raw(), y.nbytes()), 0);
  }
}

TEST_F(LinalgCpu, GramAndCrossGramAccumulateOverCalls) {
  for (const DType dt : {DType::F32, DType::F64}) {
    const int64_t n = 19, m = 23;
    Tensor acc_g = rand_tensor(rng, {n, n}, DType::F64);  // accumulators start from arbitrary values
    Tensor acc_x = rand_tensor(rng, {n, m}, DType::F64);
    Vec want_g = acc_g.to_f64_vector(), want_x = acc_x.to_f64_vector();
    for (const int64_t t : {int64_t(37), int64_t(1), int64_t(64)}) {
      Tensor a = rand_tensor(rng, {t, n}, dt, 2.0, 0.5), b = rand_tensor(rng, {t, m}, dt);
      ops::gram_accumulate_(ctx, acc_g, a, a);  // Gram: b is a
      ops::gram_accumulate_(ctx, acc_x, a, b);  // cross-Gram
      const Vec av = a.to_f64_vector(), bv = b.to_f64_vector();
      const Vec g = matmul_f64(av, t, n, true, av, t, n, false), x = matmul_f64(av, t, n, true, bv, t, m, false);
      for (size_t i = 0; i < g.size(); ++i) want_g[i] += g[i];
      for (size_t i = 0; i < x.size(); ++i) want_x[i] += x[i];
    }
    const double tol = dt == DType::F32 ? 1e-5 : 1e-12;  // one call's fp32 partial sums
    expect_close(acc_g, want_g, tol * 100, tol, std::string("gram ") + dtype_name(dt));
    expect_close(acc_x, want_x, tol * 100, tol, std::string("cross-gram ") + dtype_name(dt));
  }
}

// A wide accumulator is formed in column blocks of the fp32 temporary (16 MiB): two blocks here.
TEST_F(LinalgCpu, GramLargeNSpansTemporaryBlocks) {
  const int64_t t = 3, n = 4200, m = 1000;
  Tensor a = rand_tensor(rng, {t, n}, DType::F32), b = rand_tensor(rng, {t, m}, DType::F32);
  Tensor acc = Tensor::zeros({n, m}, DType::F64);
  ops::gram_accumulate_(ctx, acc, a, b);
  expect_close(acc, matmul_f64(a.to_f64_vector(), t, n, true, b.to_f64_vector(), t, m, false), 1e-5, 1e-5,
               "gram blocks");
}

TEST_F(LinalgCpu, ColumnStatsAccumulateInFloat64) {
  for (const DType dt : {DType::F32, DType::F64}) {
    const int64_t n = 13;
    Tensor sum = Tensor::zeros({n}, DType::F64), sumsq = Tensor::zeros({n}, DType::F64);
    Tensor only_sum = Tensor::zeros({n}, DType::F64), only_sq = Tensor::zeros({n}, DType::F64);
    Vec ws(size_t(n), 0.0), wq(size_t(n), 0.0);
    for (const int64_t t : {int64_t(41), int64_t(7)}) {
      Tensor x = rand_tensor(rng, {t, n}, dt, 2.0, 100.0);  // a large mean: fp32 sums would drift
      ops::column_stats_(ctx, sum, sumsq, x);
      Tensor none;
      ops::column_stats_(ctx, only_sum, none, x);
      ops::column_stats_(ctx, none, only_sq, x);
      const Vec xv = x.to_f64_vector();
      for (int64_t r = 0; r < t; ++r)
        for (int64_t j = 0; j < n; ++j) {
          ws[size_t(j)] += xv[size_t(r * n + j)];
          wq[size_t(j)] += xv[size_t(r * n + j)] * xv[size_t(r * n + j)];
        }
    }
    expect_close(sum, ws, 0, 1e-13, "column sum");
    expect_close(sumsq, wq, 0, 1e-13, "column sumsq");
    expect_close(only_sum, ws, 0, 1e-13, "column sum alone");
    expect_close(only_sq, wq, 0, 1e-13, "column sumsq alone");
  }
}

// ---- gathers, scatters, transpose ------------------------------------------------------------

// The chunked gathers: a block of rows and columns, and a square matrix narrowed in its own memory,
// against the element definitions, with chunks smaller than the matrix (a 2100-wide F64 matrix:
// 2^22 / 2100 = 1997 rows a chunk, so two chunks).
TEST_F(LinalgCpu, SelectBlockAndSquareInPlaceAreTheGathers) {
  const int64_t n = 2100;
  Tensor a = rand_tensor(rng, {n, n}, DType::F64);
  const Vec av = a.to_f64_vector();
  std::vector<int32_t> keep;
  for (int32_t i = 0; i < int32_t(n); ++i)
    if (i % 7 != 3) keep.push_back(i);  // ascending, most of them: rows move down by little
  const int64_t k = int64_t(keep.size());
  const std::vector<int32_t> rows = {2099, 5, 5, 0};
  const Tensor block = ops::select_block(ctx, a, Tensor::from_i32(rows, {4}), Tensor::from_i32(keep, {k}));
  ASSERT_EQ(block.shape(), (Shape{4, k}));
  for (int64_t i = 0; i < 4; ++i)
    for (int64_t j = 0; j < k; ++j)
      ASSERT_EQ(block.data<double>()[i * k + j], av[size_t(rows[size_t(i)] * n + keep[size_t(j)])]) << i << "," << j;
  const void* before = a.raw();
  ops::select_square_(ctx, a, Tensor::from_i32(keep, {k}));
  ASSERT_EQ(a.shape(), (Shape{k, k}));
  EXPECT_EQ(a.raw(), before);  // in its own memory
  for (int64_t i = 0; i < k; ++i)
    for (int64_t j = 0; j < k; ++j)
      ASSERT_EQ(a.data<double>()[i * k + j], av[size_t(keep[size_t(i)] * n + keep[size_t(j)])]) << i << "," << j;
  Tensor b = rand_tensor(rng, {5, 5}, DType::F64);
  EXPECT_THROW(ops::select_square_(ctx, b, Tensor::from_i32({3, 1}, {2})), InputError);  // not ascending
}

TEST_F(LinalgCpu, SelectAndExpandAreExactForEveryFloatDtype) {
  for (const DType dt : {DType::F32, DType::F64, DType::BF16, DType::F16}) {
    const int64_t r = 9, c = 7;
    Tensor x = rand_tensor(rng, {r, c}, dt);
    const Vec xv = x.to_f64_vector();
    const std::vector<int32_t> rows = {8, 0, 3, 3}, cols = {6, 1, 2};  // gathers may repeat
    Tensor sr = ops::select_rows(ctx, x, Tensor::from_i32(rows, {4}));
    Tensor sc = ops::select_cols(ctx, x, Tensor::from_i32(cols, {3}));
    ASSERT_EQ(sr.shape(), (Shape{4, c}));
    ASSERT_EQ(sc.shape(), (Shape{r, 3}));
    EXPECT_EQ(sr.dtype(), dt);
    Vec wr, wc;
    for (int32_t i : rows)
      for (int64_t j = 0; j < c; ++j) wr.push_back(xv[size_t(i * c + j)]);
    for (int64_t i = 0; i < r; ++i)
      for (int32_t j : cols) wc.push_back(xv[size_t(i * c + j)]);
    EXPECT_EQ(sr.to_f64_vector(), wr) << dtype_name(dt);
    EXPECT_EQ(sc.to_f64_vector(), wc) << dtype_name(dt);

    // Scatters: the inverse of the gathers, zeros elsewhere.
    const std::vector<int32_t> into_rows = {4, 0, 11}, into_cols = {2, 9, 5, 0};
    Tensor xr = rand_tensor(rng, {3, c}, dt), xc = rand_tensor(rng, {r, 4}, dt);
    Tensor er = ops::expand_rows(ctx, xr, Tensor::from_i32(into_rows, {3}), 12);
    Tensor ec = ops::expand_cols(ctx, xc, Tensor::from_i32(into_cols, {4}), 10);
    ASSERT_EQ(er.shape(), (Shape{12, c}));
    ASSERT_EQ(ec.shape(), (Shape{r, 10}));
    Vec want_er(size_t(12 * c), 0.0), want_ec(size_t(r * 10), 0.0);
    const Vec xrv = xr.to_f64_vector(), xcv = xc.to_f64_vector();
    for (size_t i = 0; i < into_rows.size(); ++i)
      for (int64_t j = 0; j < c; ++j) want_er[size_t(into_rows[i] * c + j)] = xrv[i * size_t(c) + size_t(j)];
    for (int64_t i = 0; i < r; ++i)
      for (size_t j = 0; j < into_cols.size(); ++j) want_ec[size_t(i * 10 + into_cols[j])] = xcv[size_t(i * 4) + j];
    EXPECT_EQ(er.to_f64_vector(), want_er) << dtype_name(dt);
    EXPECT_EQ(ec.to_f64_vector(), want_ec) << dtype_name(dt);
    // Round trips.
    EXPECT_EQ(ops::select_rows(ctx, er, Tensor::from_i32(into_rows, {3})).to_f64_vector(), xrv);
    EXPECT_EQ(ops::select_cols(ctx, ec, Tensor::from_i32(into_cols, {4})).to_f64_vector(), xcv);

    // The diagonal blocks of x[idx, idx] (blocks of 3; indices may repeat and need not ascend).
    Tensor sq = rand_tensor(rng, {r, r}, dt);
    const Vec sqv = sq.to_f64_vector();
    const std::vector<int32_t> idx = {8, 0, 3, 3, 5, 1};
    Tensor db = ops::select_diagonal_blocks(ctx, sq, Tensor::from_i32(idx, {6}), 3);
    ASSERT_EQ(db.shape(), (Shape{6, 3}));
    Vec wd;
    for (int g = 0; g < 2; ++g)
      for (int i = 0; i < 3; ++i)
        for (int j = 0; j < 3; ++j) wd.push_back(sqv[size_t(idx[size_t(g * 3 + i)] * r + idx[size_t(g * 3 + j)])]);
    EXPECT_EQ(db.to_f64_vector(), wd) << dtype_name(dt);

    Tensor tr = ops::transpose(ctx, x);
    ASSERT_EQ(tr.shape(), (Shape{c, r}));
    Vec wt;
    for (int64_t j = 0; j < c; ++j)
      for (int64_t i = 0; i < r; ++i) wt.push_back(xv[size_t(i * c + j)]);
    EXPECT_EQ(tr.to_f64_vector(), wt) << dtype_name(dt);
  }
  // Empty selections are fine.
  Tensor x = rand_tensor(rng, {4, 5}, DType::F32);
  EXPECT_EQ(ops::select_rows(ctx, x, Tensor::from_i32({}, {0})).shape(), (Shape{0, 5}));
  EXPECT_EQ(ops::select_cols(ctx, x, Tensor::from_i32({}, {0})).shape(), (Shape{4, 0}));
}

TEST_F(LinalgCpu, IndexErrorsNameTheOpAndTheEntry) {
  Tensor x = rand_tensor(rng, {4, 5}, DType::F32);
  const std::string e1 = test::input_error([&] { ops::select_rows(ctx, x, Tensor::from_i32({0, 4}, {2})); });
  EXPECT_NE(e1.find("select_rows"), std::string::npos) << e1;
  EXPECT_NE(e1.find("idx[1] = 4"), std::string::npos) << e1;
  const std::string e2 = test::input_error([&] { ops::select_cols(ctx, x, Tensor::from_i32({-1}, {1})); });
  EXPECT_NE(e2.find("select_cols"), std::string::npos) << e2;
  EXPECT_THROW(ops::select_cols(ctx, x, Tensor::from_i32({5}, {1})), InputError);
  Tensor sq = rand_tensor(rng, {4, 4}, DType::F64);
  EXPECT_THROW(ops::select_diagonal_blocks(ctx, sq, Tensor::from_i32({0, 1, 2}, {3}), 2), InputError);  // 1.5 blocks
  EXPECT_THROW(ops::select_diagonal_blocks(ctx, sq, Tensor::from_i32({0, 4}, {2}), 2), InputError);     // 4 >= n
  EXPECT_THROW(ops::select_diagonal_blocks(ctx, x, Tensor::from_i32({0, 1}, {2}), 2), InputError);      // not square
  EXPECT_THROW(ops::expand_rows(ctx, x, Tensor::from_i32({0, 1, 2, 6}, {4}), 6), InputError);           // 6 >= rows
  EXPECT_THROW(ops::expand_rows(ctx, x, Tensor::from_i32({0, 1, 2}, {3}), 6), InputError);  // 3 entries, 4 rows
  const std::string e3 = test::input_error([&] {
    ops::expand_cols(ctx, x, Tensor::from_i32({0, 1, 2, 1, 3}, {5}), 8);
  });
  EXPECT_NE(e3.find("distinct"), std::string::npos) << e3;
  EXPECT_THROW(ops::select_rows(ctx, x, Tensor::from_f32({0.f}, {1})), InputError);  // F32 indices
  EXPECT_THROW(ops::select_rows(ctx, Tensor::from_i32({1, 2}, {1, 2}), Tensor::from_i32({0}, {1})), InputError);
}

// ---- dense algebra ---------------------------------------------------------------------------

TEST_F(LinalgCpu, GemmAllTransposeCombinationsWithAlphaBeta) {
  struct Case {
    int64_t m, k, n;
  };
  for (const DType dt : {DType::F32, DType::F64}) {
    const double tol = dt == DType::F32 ? 2e-5 : 1e-12;
    for (const Case cs : {Case{13, 17, 11}, Case{70, 65, 90}, Case{1, 300, 2}}) {
      for (const bool ta : {false, true})
        for (const bool tb : {false, true}) {
          const Shape sa = ta ? Shape{cs.k, cs.m} : Shape{cs.m, cs.k};
          const Shape sb = tb ? Shape{cs.n, cs.k} : Shape{cs.k, cs.n};
          Tensor a = rand_tensor(rng, sa, dt), b = rand_tensor(rng, sb, dt);
          const Vec p = matmul_f64(a.to_f64_vector(), sa[0], sa[1], ta, b.to_f64_vector(), sb[0], sb[1], tb);
          const std::string what =
              std::string(dtype_name(dt)) + (ta ? " aT" : " a") + (tb ? " bT" : " b") + " m" + std::to_string(cs.m);
          // beta = 0: c's old values (NaN) are ignored.
          Tensor c0 = from_vec(Vec(size_t(cs.m * cs.n), kNaN), {cs.m, cs.n}, dt);
          ops::gemm_(ctx, c0, a, ta, b, tb, 0.75, 0.0);
          Vec want0 = p;
          for (auto& v : want0) v *= 0.75;
          expect_close(c0, want0, tol * std::sqrt(double(cs.k)), tol, what + " beta 0");
          // beta != 0 scales the old c.
          Tensor c1 = rand_tensor(rng, {cs.m, cs.n}, dt);
          Vec want1 = c1.to_f64_vector();
          for (size_t i = 0; i < want1.size(); ++i) want1[i] = -1.5 * p[i] - 0.5 * want1[i];
          ops::gemm_(ctx, c1, a, ta, b, tb, -1.5, -0.5);
          expect_close(c1, want1, tol * std::sqrt(double(cs.k)), tol, what + " beta -0.5");
          // matmul is op(a) op(b).
          Tensor mm = ops::matmul(ctx, a, ta, b, tb);
          ASSERT_EQ(mm.shape(), (Shape{cs.m, cs.n}));
          expect_close(mm, p, tol * std::sqrt(double(cs.k)), tol, what + " matmul");
        }
    }
  }
  // K = 0: the product is zero.
  Tensor c = from_vec(Vec(6, kNaN), {2, 3}, DType::F32);
  ops::gemm_(ctx, c, Tensor::empty({2, 0}, DType::F32), false, Tensor::empty({0, 3}, DType::F32), false, 1.0, 0.0);
  EXPECT_EQ(c.to_f64_vector(), Vec(6, 0.0));
}

TEST_F(LinalgCpu, CholeskyFactorsReadingOnlyTheLowerTriangle) {
  for (const DType dt : {DType::F32, DType::F64}) {
    for (const int64_t n : {int64_t(1), int64_t(37), int64_t(150)}) {
      const Vec a = spd_f64(rng, n);
      Vec in = a;
      for (int64_t i = 0; i < n; ++i)
        for (int64_t j = i + 1; j < n; ++j) in[size_t(i * n + j)] = kNaN;  // never read
      Tensor l = from_vec(in, {n, n}, dt);
      ASSERT_TRUE(ops::cholesky_(ctx, l)) << dtype_name(dt) << " n " << n;
      const Vec lv = l.to_f64_vector();
      for (int64_t i = 0; i < n; ++i) {
        EXPECT_GT(lv[size_t(i * n + i)], 0.0);
        for (int64_t j = i + 1; j < n; ++j) ASSERT_EQ(lv[size_t(i * n + j)], 0.0) << "upper (" << i << ", " << j << ")";
      }
      const double tol = dt == DType::F32 ? 1e-4 : 1e-12;
      expect_close(l, cholesky_f64(a, n), tol, tol, std::string("L ") + dtype_name(dt));
      const Vec llt = matmul_f64(lv, n, n, false, lv, n, n, true);
      expect_close(from_vec(llt, {n, n}, DType::F64), a, tol * max_abs(a), 0, std::string("L L^T ") + dtype_name(dt));
    }
  }
}

TEST_F(LinalgCpu, CholeskyReturnsFalseWhenNotPositiveDefinite) {
  for (const DType dt : {DType::F32, DType::F64}) {
    const int64_t n = 20;
    Vec a = spd_f64(rng, n);
    a[size_t(7 * n + 7)] = -5.0;  // a negative diagonal: indefinite
    Tensor t = from_vec(a, {n, n}, dt);
    EXPECT_FALSE(ops::cholesky_(ctx, t)) << dtype_name(dt);
    // Symmetric with eigenvalues 3 and -1.
    Tensor s = from_vec({1, 2, 2, 1}, {2, 2}, dt);
    EXPECT_FALSE(ops::cholesky_(ctx, s)) << dtype_name(dt);
    // Singular (rank 1): not positive definite either.
    Tensor z = from_vec({1, 1, 1, 1}, {2, 2}, dt);
    EXPECT_FALSE(ops::cholesky_(ctx, z)) << dtype_name(dt);
    // NaN in the lower triangle: no factor.
    Vec bad = spd_f64(rng, n);
    bad[size_t(9 * n + 3)] = kNaN;
    Tensor tb = from_vec(bad, {n, n}, dt);
    EXPECT_FALSE(ops::cholesky_(ctx, tb)) << dtype_name(dt);
    // The caller's retry with damping succeeds.
    Tensor retry = from_vec(a, {n, n}, dt);
    ops::add_diagonal_(ctx, retry, 1000.0);
    EXPECT_TRUE(ops::cholesky_(ctx, retry)) << dtype_name(dt);
    // Counted instead of returned: the two failures of three factorisations.
    Tensor failures = Tensor::zeros({1}, DType::I32);
    Tensor t2 = from_vec(a, {n, n}, dt), s2 = from_vec({1, 2, 2, 1}, {2, 2}, dt), ok = from_vec(a, {n, n}, dt);
    ops::add_diagonal_(ctx, ok, 1000.0);
    EXPECT_TRUE(ops::cholesky_(ctx, t2, &failures));
    EXPECT_TRUE(ops::cholesky_(ctx, ok, &failures));
    EXPECT_TRUE(ops::cholesky_(ctx, s2, &failures));
    EXPECT_EQ(failures.data<int32_t>()[0], 2) << dtype_name(dt);
  }
}

TEST_F(LinalgCpu, CholeskySolveAndInverseMatchFloat64) {
  for (const DType dt : {DType::F32, DType::F64}) {
    const int64_t n = 45, m = 6;
    const Vec a = spd_f64(rng, n);
    Tensor l = from_vec(a, {n, n}, dt);
    ASSERT_TRUE(ops::cholesky_(ctx, l));
    const Vec lv = l.to_f64_vector();  // the factor the op computed, in float64
    const double tol = dt == DType::F32 ? 1e-4 : 1e-12;

    Tensor b = rand_tensor(rng, {n, m}, dt);
    Tensor x = ops::cholesky_solve(ctx, l, b);
    ASSERT_EQ(x.shape(), (Shape{n, m}));
    const Vec want = solve_f64(lv, n, b.to_f64_vector(), m);
    expect_close(x, want, tol * max_abs(want), tol, std::string("solve ") + dtype_name(dt));
    // And the residual against the original matrix.
    const Vec ax = matmul_f64(a, n, n, false, x.to_f64_vector(), n, m, false);
    expect_close(from_vec(ax, {n, m}, DType::F64), b.to_f64_vector(), tol * 100 * max_abs(b.to_f64_vector()), 0,
                 std::string("A x = b ") + dtype_name(dt));

    Tensor inv = ops::cholesky_inverse(ctx, l);
    ASSERT_EQ(inv.shape(), (Shape{n, n}));
    const Vec want_inv = solve_f64(lv, n, identity_f64(n), n);
    expect_close(inv, want_inv, tol * max_abs(want_inv), tol, std::string("inverse ") + dtype_name(dt));
    const Vec iv = inv.to_f64_vector();
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < i; ++j) ASSERT_EQ(iv[size_t(i * n + j)], iv[size_t(j * n + i)]) << "not symmetric";
  }
}

TEST_F(LinalgCpu, AddDiagonalAndDiagonal) {
  for (const DType dt : {DType::F32, DType::F64}) {
    const int64_t n = 6;
    Tensor a = rand_tensor(rng, {n, n}, dt);
    Vec want = a.to_f64_vector();
    ops::add_diagonal_(ctx, a, 0.25);
    for (int64_t i = 0; i < n; ++i) want[size_t(i * n + i)] += 0.25;
    expect_close(a, want, 0, dt == DType::F32 ? 1e-7 : 0, "add_diagonal");
    Tensor d = ops::diagonal(ctx, a);
    ASSERT_EQ(d.shape(), (Shape{n}));
    EXPECT_EQ(d.dtype(), dt);
    const Vec av = a.to_f64_vector();
    Vec wd;
    for (int64_t i = 0; i < n; ++i) wd.push_back(av[size_t(i * n + i)]);
    EXPECT_EQ(d.to_f64_vector(), wd);
  }
}

// The diagonal bookkeeping of a low-rank update held as factors (prune/obs.cpp's LazyInverse):
// d[j] -= sum_i a[i, j] b[i, j], the diagonal of a^T b; copy_ into a row range of a larger buffer.
TEST_F(LinalgCpu, SubColumnDotsAndCopyIntoRows) {
  const int64_t k = 3, n = 5;
  Tensor a = rand_tensor(rng, {k, n}, DType::F64), b = rand_tensor(rng, {k, n}, DType::F64);
  Tensor d = rand_tensor(rng, {n}, DType::F64);
  const Vec av = a.to_f64_vector(), bv = b.to_f64_vector();
  Vec want = d.to_f64_vector();
  for (int64_t j = 0; j < n; ++j)
    for (int64_t i = 0; i < k; ++i) want[size_t(j)] -= av[size_t(i * n + j)] * bv[size_t(i * n + j)];
  ops::sub_column_dots_(ctx, d, a, b);
  expect_close(d, want, 0, 1e-15, "sub_column_dots");
  Tensor buf = Tensor::zeros({k + 2, n}, DType::F64);
  Tensor rows = buf.slice_rows(1, 1 + k);
  ops::copy_(ctx, rows, a);
  const Vec got = buf.to_f64_vector();
  for (int64_t i = 0; i < k + 2; ++i)
    for (int64_t j = 0; j < n; ++j)
      EXPECT_EQ(got[size_t(i * n + j)], i >= 1 && i <= k ? av[size_t((i - 1) * n + j)] : 0.0) << i << "," << j;
  EXPECT_THROW(ops::sub_column_dots_(ctx, d, a, Tensor::zeros({k, n + 1}, DType::F64)), InputError);
  EXPECT_THROW(ops::copy_(ctx, rows, Tensor::zeros({k, n}, DType::F32)), InputError);
}

// The greedy's pick against its definition: every live group sorted by (cost, index), the first k.
TEST_F(LinalgCpu, PickCheapestTakesTheCheapestLiveGroupsTiesByIndex) {
  const int64_t groups = 40, m = 50, k = 7;
  std::vector<double> cost(static_cast<size_t>(m));
  std::uniform_int_distribution<int> level(0, 5);  // few distinct values: many ties
  for (auto& c : cost) c = level(rng) * 0.25;
  cost[3] = -0.0;  // ties with +0
  cost[4] = std::numeric_limits<double>::infinity();
  std::vector<int32_t> at(static_cast<size_t>(groups)), live(static_cast<size_t>(groups), 1);
  std::uniform_int_distribution<int32_t> place(0, int32_t(m - 1));
  for (auto& a : at) a = place(rng);
  for (int64_t g = 0; g < groups; g += 3) live[size_t(g)] = 0;
  at[1] = 3, at[2] = 4;
  std::vector<int32_t> want;
  for (int32_t g = 0; g < int32_t(groups); ++g)
    if (live[size_t(g)]) want.push_back(g);
  std::stable_sort(want.begin(), want.end(),
                   [&](int32_t a, int32_t b) { return cost[size_t(at[size_t(a)])] < cost[size_t(at[size_t(b)])]; });
  want.resize(size_t(k));
  Tensor c = from_vec(cost, {m}, DType::F64), alive = Tensor::from_i32(live, {groups});
  Tensor picked = Tensor::empty({k}, DType::I32), picked_cost = Tensor::empty({k}, DType::F64);
  ops::pick_cheapest_(ctx, c, Tensor::from_i32(at, {groups}), alive, picked, picked_cost);
  for (int64_t i = 0; i < k; ++i) {
    const int32_t g = picked.data<int32_t>()[i];
    EXPECT_EQ(g, want[size_t(i)]) << i;
    const double v = cost[size_t(at[size_t(g)])];
    EXPECT_EQ(picked_cost.data<double>()[i], v == 0.0 ? 0.0 : v) << i;
    EXPECT_FALSE(std::signbit(picked_cost.data<double>()[i]) && picked_cost.data<double>()[i] == 0.0) << i;
  }
  for (int32_t g = 0; g < int32_t(groups); ++g) {
    const bool was_picked = std::find(want.begin(), want.end(), g) != want.end();
    EXPECT_EQ(alive.data<int32_t>()[g], live[size_t(g)] && !was_picked ? 1 : 0) << g;
  }
  Tensor too_many = Tensor::empty({groups}, DType::I32), too_many_cost = Tensor::empty({groups}, DType::F64);
  EXPECT_THROW(ops::pick_cheapest_(ctx, c, Tensor::from_i32(at, {groups}), alive, too_many, too_many_cost), InputError);
}

TEST_F(LinalgCpu, GroupColumnsArePositionsAscending) {
  const int64_t b = 3;
  const std::vector<int32_t> members = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11};  // 4 groups of 3
  std::vector<int32_t> pos(12);
  for (int32_t j = 0; j < 12; ++j) pos[size_t(j)] = (j * 7) % 12;  // a permutation
  const std::vector<int32_t> picked = {3, 0};
  const Tensor out = ops::group_columns(ctx, Tensor::from_i32(picked, {2}), Tensor::from_i32(members, {12}),
                                        Tensor::from_i32(pos, {12}), b);
  std::vector<int32_t> want;
  for (int32_t g : picked)
    for (int64_t j = 0; j < b; ++j) want.push_back(pos[size_t(members[size_t(g * b + j)])]);
  std::sort(want.begin(), want.end());
  ASSERT_EQ(out.numel(), int64_t(want.size()));
  for (size_t i = 0; i < want.size(); ++i) EXPECT_EQ(out.data<int32_t>()[i], want[i]) << i;
}

TEST_F(LinalgCpu, SetCpuThreadsKeepsResults) {
  Tensor a = rand_tensor(rng, {200, 150}, DType::F64), b = rand_tensor(rng, {150, 170}, DType::F64);
  const Vec want = matmul_f64(a.to_f64_vector(), 200, 150, false, b.to_f64_vector(), 150, 170, false);
  for (const int threads : {1, 2, 0}) {
    ops::set_cpu_threads(threads);
    expect_close(ops::matmul(ctx, a, false, b, false), want, 1e-12, 1e-12, "threads " + std::to_string(threads));
  }
}

// ---- convert with F64 ------------------------------------------------------------------------

TEST_F(LinalgCpu, ConvertToAndFromF64) {
  const Vec v = {1.0 + std::ldexp(1.0, -30), -2.5, 1e-3, 70000.0, 1.0 + std::ldexp(1.0, -8), 3.0e-8};
  Tensor d = from_vec(v, {6}, DType::F64);
  Tensor f = ops::convert(ctx, d, DType::F32);
  EXPECT_EQ(f.dtype(), DType::F32);
  for (size_t i = 0; i < v.size(); ++i) EXPECT_EQ(f.data<float>()[i], float(v[i])) << i;
  Tensor bf = ops::convert(ctx, d, DType::BF16);
  const Vec bv = bf.to_f64_vector();
  EXPECT_EQ(bv[0], 1.0);
  EXPECT_EQ(bv[1], -2.5);
  EXPECT_EQ(bv[4], 1.0);  // halfway: ties to even
  Tensor h = ops::convert(ctx, d, DType::F16);
  const Vec hv = h.to_f64_vector();
  EXPECT_TRUE(std::isinf(hv[3]));  // beyond the f16 range
  EXPECT_EQ(hv[1], -2.5);
  // Up-conversions to F64 are exact.
  for (const Tensor* t : {&f, &bf, &h}) {
    Tensor back = ops::convert(ctx, *t, DType::F64);
    EXPECT_EQ(back.dtype(), DType::F64);
    EXPECT_EQ(back.to_f64_vector(), t->to_f64_vector()) << dtype_name(t->dtype());
  }
  EXPECT_EQ(ops::convert(ctx, d, DType::F64).to_f64_vector(), v);
  EXPECT_THROW(ops::convert(ctx, d, DType::I32), InputError);
}

// ---- front-end errors ------------------------------------------------------------------------

TEST_F(LinalgCpu, FrontEndsRejectBadOperandsByName) {
  Tensor a = rand_tensor(rng, {8, 4}, DType::F32), b = rand_tensor(rng, {7, 3}, DType::F32);
  Tensor acc = Tensor::zeros({4, 3}, DType::F64);
  std::string e = test::input_error([&] { ops::gram_accumulate_(ctx, acc, a, b); });
  EXPECT_NE(e.find("gram_accumulate"), std::string::npos) << e;
  EXPECT_NE(e.find("rows"), std::string::npos) << e;
  Tensor acc32 = Tensor::zeros({4, 4}, DType::F32);
  e = test::input_error([&] { ops::gram_accumulate_(ctx, acc32, a, a); });
  EXPECT_NE(e.find("'acc'"), std::string::npos) << e;
  Tensor acc_wrong = Tensor::zeros({4, 5}, DType::F64);
  EXPECT_THROW(ops::gram_accumulate_(ctx, acc_wrong, a, a), InputError);
  Tensor a16 = ops::convert(ctx, a, DType::BF16);
  Tensor acc44 = Tensor::zeros({4, 4}, DType::F64);
  e = test::input_error([&] { ops::gram_accumulate_(ctx, acc44, a16, a16); });
  EXPECT_NE(e.find("CUDA"), std::string::npos) << e;
  Tensor s3 = Tensor::zeros({3}, DType::F64), none;
  e = test::input_error([&] { ops::column_stats_(ctx, s3, none, a); });
  EXPECT_NE(e.find("'sum'"), std::string::npos) << e;
  Tensor s4 = Tensor::zeros({4}, DType::F64);
  EXPECT_THROW(ops::column_stats_(ctx, s4, s4, a), InputError);  // sum and sumsq alias

  Tensor c = Tensor::empty({8, 3}, DType::F32);
  e = test::input_error([&] { ops::gemm_(ctx, c, a, false, b, false, 1.0, 0.0); });
  EXPECT_NE(e.find("inner dimensions"), std::string::npos) << e;
  EXPECT_THROW(ops::matmul(ctx, a, false, rand_tensor(rng, {4, 2}, DType::F64), false), InputError);  // dtypes
  EXPECT_THROW(ops::matmul(ctx, a16, true, a16, false), InputError);                                  // BF16
  Tensor c_wrong = Tensor::empty({4, 5}, DType::F32);
  EXPECT_THROW(ops::gemm_(ctx, c_wrong, a, true, a, false, 1.0, 0.0), InputError);
  Tensor sq = rand_tensor(rng, {4, 4}, DType::F32);
  EXPECT_THROW(ops::gemm_(ctx, sq, sq, false, sq, false, 1.0, 0.0), InputError);  // c aliases a

  e = test::input_error([&] { ops::cholesky_(ctx, a); });
  EXPECT_NE(e.find("square"), std::string::npos) << e;
  EXPECT_THROW(ops::cholesky_solve(ctx, sq, rand_tensor(rng, {5, 2}, DType::F32)), InputError);
  EXPECT_THROW(ops::cholesky_solve(ctx, sq, rand_tensor(rng, {4, 2}, DType::F64)), InputError);
  EXPECT_THROW(ops::cholesky_inverse(ctx, a), InputError);
  EXPECT_THROW(ops::add_diagonal_(ctx, a, 1.0), InputError);
  EXPECT_THROW(ops::diagonal(ctx, a16), InputError);
}

// A symmetric matrix's exact sums kept as its lower triangle: the same values as the full
// accumulator's (both triangles from the lower one), in half the limbs; a Gram formed through
// gram_exact_accumulate_ is the one gram_accumulate_ forms, summed exactly.
TEST(ExactSum, LowerTriangleOfASymmetricSumGivesTheFullSums) {
  ExecContext ctx(Device::cpu());
  std::mt19937 g(9);
  const int64_t n = 37;
  Tensor full = ops::exact_zeros(ctx, n * n), lower = ops::exact_zeros(ctx, ops::lower_count(n));
  EXPECT_EQ(lower.numel(), 3 * n * (n + 1) / 2 + 1);
  for (int t = 0; t < 3; ++t) {
    Tensor a = rand_tensor(g, {50, n}, DType::F32);
    Tensor part = Tensor::zeros({n, n}, DType::F64);
    ops::gram_accumulate_(ctx, part, a, a);
    // The upper triangle is not read: poison it in the copy the lower accumulator sees.
    Tensor poisoned = part.clone();
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = i + 1; j < n; ++j) poisoned.data<double>()[i * n + j] = kNaN;
    ops::exact_accumulate_(ctx, full, part);
    ops::exact_accumulate_lower_(ctx, lower, poisoned);
  }
  Tensor via_gram = ops::exact_zeros(ctx, ops::lower_count(n));
  std::mt19937 g2(9);
  for (int t = 0; t < 3; ++t) ops::gram_exact_accumulate_(ctx, via_gram, rand_tensor(g2, {50, n}, DType::F32));
  for (int64_t i = 0; i < lower.numel(); ++i) ASSERT_EQ(lower.data<int64_t>()[i], via_gram.data<int64_t>()[i]) << i;
  const Tensor vf = ops::exact_value(ctx, full, {n, n}, "full"),
               vl = ops::exact_value_symmetric(ctx, lower, n, "lower");
  ASSERT_EQ(vl.shape(), (Shape{n, n}));
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < n; ++j) {
      const double want = vf.data<double>()[std::max(i, j) * n + std::min(i, j)];
      EXPECT_EQ(vl.data<double>()[i * n + j], want) << i << "," << j;
    }
  EXPECT_THROW(ops::exact_accumulate_lower_(ctx, full, Tensor::zeros({n, n}, DType::F64)), InputError);
  Tensor bad = Tensor::zeros({n, n}, DType::F64);
  bad.data<double>()[5 * n + 2] = kNaN;
  Tensor c = ops::exact_zeros(ctx, ops::lower_count(n));
  ops::exact_accumulate_lower_(ctx, c, bad);
  EXPECT_THROW(ops::exact_value_symmetric(ctx, c, n, "layer 0 mlp_down_in"), InputError);
}

// Exact sums: any grouping of the same terms gives the same bits, and the value is the true sum
// (computed here with exact rational arithmetic on the doubles' integer mantissas, via long double
// pairs would not be exact; a sorted two-sum cascade is) within one rounding of the final read-back.
TEST(ExactSum, AnyGroupingGivesTheSameBitsAndTheTrueSum) {
  ExecContext ctx(Device::cpu());
  std::mt19937 g(7);
  const int64_t n = 64, terms = 40;
  std::vector<Tensor> parts;
  std::lognormal_distribution<double> mag(0.0, 6.0);
  std::bernoulli_distribution sign(0.5);
  for (int t = 0; t < terms; ++t) {
    Tensor x = Tensor::empty({n}, DType::F64);
    for (int64_t i = 0; i < n; ++i) x.data<double>()[i] = (sign(g) ? -1 : 1) * mag(g);
    parts.push_back(x);
  }
  // Grouping A: one accumulator in order. Grouping B: three accumulators over interleaved terms,
  // their limbs added as integers (what an allreduce over three ranks does), in reverse order.
  Tensor a = ops::exact_zeros(ctx, n);
  for (const Tensor& x : parts) ops::exact_accumulate_(ctx, a, x);
  std::vector<Tensor> acc(3);
  for (auto& t : acc) t = ops::exact_zeros(ctx, n);
  for (int t = terms - 1; t >= 0; --t) ops::exact_accumulate_(ctx, acc[size_t(t % 3)], parts[size_t(t)]);
  Tensor b = ops::exact_zeros(ctx, n);
  for (const Tensor& t : acc)
    for (int64_t i = 0; i < b.numel(); ++i) b.data<int64_t>()[i] += t.data<int64_t>()[i];
  const Tensor va = ops::exact_value(ctx, a, {n}, "test"), vb = ops::exact_value(ctx, b, {n}, "test");
  for (int64_t i = 0; i < n; ++i) {
    EXPECT_EQ(va.data<double>()[i], vb.data<double>()[i]) << i;
    // Reference: Neumaier-compensated sum in long double of the same terms (error far below 1 ulp).
    long double s = 0, c = 0;
    for (const Tensor& x : parts) {
      const long double v = x.data<double>()[i], t2 = s + v;
      c += std::fabs(double(s)) >= std::fabs(double(v)) ? (s - t2) + v : (v - t2) + s;
      s = t2;
    }
    const double ref = double(s + c);
    EXPECT_NEAR(va.data<double>()[i], ref, std::fabs(ref) * 4e-16 + 1e-17) << i;
  }
  // Values that cannot be added are counted and reported by name.
  Tensor bad = Tensor::empty({n}, DType::F64);
  for (int64_t i = 0; i < n; ++i) bad.data<double>()[i] = i == 3 ? kNaN : (i == 5 ? 1e300 : 1.0);
  Tensor c2 = ops::exact_zeros(ctx, n);
  ops::exact_accumulate_(ctx, c2, bad);
  try {
    ops::exact_value(ctx, c2, {n}, "layer 3 attn_in");
    FAIL() << "expected an InputError";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("layer 3 attn_in: 2 statistic value"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace sp
