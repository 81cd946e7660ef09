// CPU bodies of the pruning ops (kernels/ops_linalg.h): calibration statistics, gathers / scatters,
// dense linear algebra. F32 / F64 arithmetic through Eigen on row-major maps of the operands; the
// gathers and scatters move elements of any float dtype as raw bits. Eigen's products use
// Eigen::nbThreads() threads (set_threads; effective when the library is built with OpenMP).
#include <Eigen/Cholesky>
#include <Eigen/Core>
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <limits>
#include <thread>

#include "kernels/cpu/cpu_ops.h"
#include "kernels/exact_sum.h"

namespace sp::cpu {
namespace {

template <typename T>
using RowMajor = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
template <typename T>
using ConstMap = Eigen::Map<const RowMajor<T>>;
template <typename T>
using MutMap = Eigen::Map<RowMajor<T>>;

// Calls f(T{}) with T = float or double for an F32 / F64 tensor (the front ends admit no other).
template <typename F>
void dispatch_real(DType t, F&& f) {
  if (t == DType::F64) {
    f(double{});
  } else {
    f(float{});
  }
}

// Calls f(E{}) with E an unsigned integer as wide as one element: gathers copy bits, not values.
template <typename F>
void dispatch_bits(DType t, F&& f) {
  switch (dtype_size(t)) {
    case 2:
      f(uint16_t{});
      return;
    case 4:
      f(uint32_t{});
      return;
    default:
      f(uint64_t{});
      return;
  }
}

// Elements of the fp32 temporary (16 MiB): acc is formed in blocks of columns for a large n.
constexpr int64_t kGramTempElems = int64_t(1) << 22;

template <typename T>
void column_stats_impl(double* s, double* q, const T* x, int64_t rows, int64_t n) {
  for (int64_t t = 0; t < rows; ++t) {
    const T* r = x + t * n;
    if (s)
      for (int64_t j = 0; j < n; ++j) s[j] += double(r[j]);
    if (q)
      for (int64_t j = 0; j < n; ++j) q[j] += double(r[j]) * double(r[j]);
  }
}

}  // namespace

void gram_accumulate(Tensor& acc, const Tensor& a, const Tensor& b) {
  const int64_t t = a.dim(0), n = a.dim(1), m = b.dim(1);
  MutMap<double> accm(acc.data<double>(), n, m);
  if (a.dtype() == DType::F64) {
    accm.noalias() += ConstMap<double>(a.data<double>(), t, n).transpose() * ConstMap<double>(b.data<double>(), t, m);
    return;
  }
  // One fp32 product per call, then added into the F64 accumulator (in column blocks of acc).
  ConstMap<float> am(a.data<float>(), t, n), bm(b.data<float>(), t, m);
  const int64_t w = std::clamp<int64_t>(kGramTempElems / std::max<int64_t>(n, 1), 1, m);
  RowMajor<float> tmp(n, w);
  for (int64_t j0 = 0; j0 < m; j0 += w) {
    const int64_t wj = std::min(w, m - j0);
    auto part = tmp.leftCols(wj);
    part.noalias() = am.transpose() * bm.middleCols(j0, wj);
    accm.middleCols(j0, wj) += part.template cast<double>();
  }
}

void exact_accumulate(Tensor& acc, const Tensor& x) {
  const int64_t n = x.numel();
  const double* v = x.data<double>();
  int64_t* a = acc.data<int64_t>();
  for (int64_t i = 0; i < n; ++i)
    if (!exact::add(a, n, i, v[i])) a[exact::kLimbs * n] += 1;
}

void exact_accumulate_lower(Tensor& acc, const Tensor& x) {
  const int64_t n = x.dim(0), count = n * (n + 1) / 2;
  const double* v = x.data<double>();
  int64_t* a = acc.data<int64_t>();
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j <= i; ++j)
      if (!exact::add(a, count, i * (i + 1) / 2 + j, v[i * n + j])) a[exact::kLimbs * count] += 1;
}

void exact_value_symmetric(const Tensor& acc, Tensor& out) {
  const int64_t n = out.dim(0), count = n * (n + 1) / 2;
  const int64_t* a = acc.data<int64_t>();
  double* o = out.data<double>();
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j <= i; ++j) {
      const int64_t p = i * (i + 1) / 2 + j;
      o[i * n + j] = o[j * n + i] = exact::value(a[p], a[count + p], a[2 * count + p]);
    }
}

void exact_value(const Tensor& acc, Tensor& out) {
  const int64_t n = out.numel();
  const int64_t* a = acc.data<int64_t>();
  double* o = out.data<double>();
  for (int64_t i = 0; i < n; ++i) o[i] = exact::value(a[i], a[n + i], a[2 * n + i]);
}

void column_stats(Tensor& sum, Tensor& sumsq, const Tensor& x) {
  double* s = sum.defined() ? sum.data<double>() : nullptr;
  double* q = sumsq.defined() ? sumsq.data<double>() : nullptr;
  if (x.dtype() == DType::F64) {
    column_stats_impl(s, q, x.data<double>(), x.dim(0), x.dim(1));
  } else {
    column_stats_impl(s, q, x.data<float>(), x.dim(0), x.dim(1));
  }
}

void select_rows(const Tensor& x, const Tensor& idx, Tensor& out) {
  const size_t row = size_t(x.dim(1)) * dtype_size(x.dtype());
  const char* src = static_cast<const char*>(x.raw());
  char* dst = static_cast<char*>(out.raw());
  const int32_t* id = idx.data<int32_t>();
  for (int64_t i = 0; i < idx.numel(); ++i) std::memcpy(dst + size_t(i) * row, src + size_t(id[i]) * row, row);
}

void select_cols(const Tensor& x, const Tensor& idx, Tensor& out) {
  dispatch_bits(x.dtype(), [&](auto zero) {
    using E = decltype(zero);
    const int64_t rows = x.dim(0), c = x.dim(1), k = idx.numel();
    const int32_t* id = idx.data<int32_t>();
    for (int64_t r = 0; r < rows; ++r) {
      const E* src = x.data<E>() + r * c;
      E* dst = out.data<E>() + r * k;
      for (int64_t i = 0; i < k; ++i) dst[i] = src[id[i]];
    }
  });
}

void select_diagonal_blocks(const Tensor& x, const Tensor& idx, Tensor& out) {
  dispatch_bits(x.dtype(), [&](auto zero) {
    using E = decltype(zero);
    const int64_t n = x.dim(0), b = out.dim(1);
    const int32_t* id = idx.data<int32_t>();
    E* dst = out.data<E>();
    for (int64_t r = 0; r < idx.numel(); ++r) {
      const E* src = x.data<E>() + int64_t(id[r]) * n;
      const int32_t* cols = id + r / b * b;  // the indices of this row's block
      for (int64_t j = 0; j < b; ++j) dst[r * b + j] = src[cols[j]];
    }
  });
}

void expand_rows(const Tensor& x, const Tensor& idx, Tensor& out) {
  std::memset(out.raw(), 0, out.nbytes());
  const size_t row = size_t(x.dim(1)) * dtype_size(x.dtype());
  const char* src = static_cast<const char*>(x.raw());
  char* dst = static_cast<char*>(out.raw());
  const int32_t* id = idx.data<int32_t>();
  for (int64_t i = 0; i < idx.numel(); ++i) std::memcpy(dst + size_t(id[i]) * row, src + size_t(i) * row, row);
}

void expand_cols(const Tensor& x, const Tensor& idx, Tensor& out) {
  std::memset(out.raw(), 0, out.nbytes());
  dispatch_bits(x.dtype(), [&](auto zero) {
    using E = decltype(zero);
    const int64_t rows = x.dim(0), k = x.dim(1), c = out.dim(1);
    const int32_t* id = idx.data<int32_t>();
    for (int64_t r = 0; r < rows; ++r) {
      const E* src = x.data<E>() + r * k;
      E* dst = out.data<E>() + r * c;
      for (int64_t i = 0; i < k; ++i) dst[id[i]] = src[i];
    }
  });
}

void transpose(const Tensor& x, Tensor& out) {
  dispatch_bits(x.dtype(), [&](auto zero) {
    using E = decltype(zero);
    const int64_t rows = x.dim(0), c = x.dim(1);
    // Eigen's blocked transpose copy: a row-major [R, C] map assigned to a row-major [C, R] one.
    MutMap<E>(out.data<E>(), c, rows) = ConstMap<E>(x.data<E>(), rows, c).transpose();
  });
}

void gemm(Tensor& c, const Tensor& a, bool trans_a, const Tensor& b, bool trans_b, double alpha, double beta) {
  dispatch_real(c.dtype(), [&](auto zero) {
    using T = decltype(zero);
    ConstMap<T> am(a.data<T>(), a.dim(0), a.dim(1)), bm(b.data<T>(), b.dim(0), b.dim(1));
    MutMap<T> cm(c.data<T>(), c.dim(0), c.dim(1));
    const T al = T(alpha), be = T(beta);
    auto run = [&](const auto& opa, const auto& opb) {
      if (beta == 0.0) {
        cm.noalias() = al * (opa * opb);  // c's old values (NaN included) are never read
      } else {
        if (beta != 1.0) cm *= be;
        cm.noalias() += al * (opa * opb);
      }
    };
    if (!trans_a && !trans_b) {
      run(am, bm);
    } else if (trans_a && !trans_b) {
      run(am.transpose(), bm);
    } else if (!trans_a && trans_b) {
      run(am, bm.transpose());
    } else {
      run(am.transpose(), bm.transpose());
    }
  });
}

bool cholesky(Tensor& a) {
  bool ok = false;
  dispatch_real(a.dtype(), [&](auto zero) {
    using T = decltype(zero);
    const int64_t n = a.dim(0);
    MutMap<T> am(a.data<T>(), n, n);
    // In place (Eigen::Ref): reads the lower triangle only and writes L there.
    Eigen::LLT<Eigen::Ref<RowMajor<T>>, Eigen::Lower> llt(am);
    if (llt.info() != Eigen::Success) return;
    // Eigen's pivot test (x <= 0) lets NaN through: a usable factor has a finite positive diagonal.
    for (int64_t i = 0; i < n; ++i)
      if (!(am(i, i) > T(0)) || !std::isfinite(am(i, i))) return;
    for (int64_t i = 0; i + 1 < n; ++i) std::fill(&am(i, i + 1), &am(i, 0) + n, T(0));
    ok = true;
  });
  return ok;
}

void cholesky_solve(const Tensor& l, const Tensor& b, Tensor& x) {
  x.copy_from(b);
  dispatch_real(l.dtype(), [&](auto zero) {
    using T = decltype(zero);
    const int64_t n = l.dim(0);
    ConstMap<T> lm(l.data<T>(), n, n);
    MutMap<T> xm(x.data<T>(), x.dim(0), x.dim(1));
    lm.template triangularView<Eigen::Lower>().solveInPlace(xm);              // L y = b
    lm.transpose().template triangularView<Eigen::Upper>().solveInPlace(xm);  // L^T x = y
  });
}

void cholesky_inverse(const Tensor& l, Tensor& out) {
  dispatch_real(l.dtype(), [&](auto zero) {
    using T = decltype(zero);
    const int64_t n = l.dim(0);
    ConstMap<T> lm(l.data<T>(), n, n);
    MutMap<T> om(out.data<T>(), n, n);
    RowMajor<T> linv = RowMajor<T>::Identity(n, n);
    lm.template triangularView<Eigen::Lower>().solveInPlace(linv);  // L^{-1}
    om.noalias() = linv.transpose() * linv;                         // (L L^T)^{-1} = L^{-T} L^{-1}
    // Exactly symmetric: the upper triangle mirrors the lower one (the GEMM may round them apart).
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = i + 1; j < n; ++j) om(i, j) = om(j, i);
  });
}

void divide_by(Tensor& s, const Tensor& d) {
  const int64_t n = s.numel();
  double* p = s.data<double>();
  const double* dv = d.data<double>();
  for (int64_t j = 0; j < n; ++j) {
    const double dj = dv[j];
    p[j] = dj > 0 && std::isfinite(dj) ? p[j] / dj : std::numeric_limits<double>::infinity();
  }
}

void sub_column_dots(Tensor& d, const Tensor& a, const Tensor& b) {
  const int64_t k = a.dim(0), n = a.dim(1);
  double* dv = d.data<double>();
  const double* pa = a.data<double>();
  const double* pb = b.data<double>();
  // Explicit fused multiply-adds (the CUDA body's bits): contracting `s += a * b` is otherwise the
  // compiler's choice, which depends on its version and flags.
  for (int64_t j = 0; j < n; ++j) {
    double s = 0;
    for (int64_t i = 0; i < k; ++i) s = std::fma(pa[i * n + j], pb[i * n + j], s);
    dv[j] -= s;
  }
}

void pick_cheapest(const Tensor& cost, const Tensor& at, Tensor& live, Tensor& picked, Tensor& picked_cost) {
  const double* c = cost.data<double>();
  const int32_t* pos = at.data<int32_t>();
  int32_t* alive = live.data<int32_t>();
  std::vector<int32_t> cand;
  for (int32_t g = 0; g < int32_t(live.numel()); ++g)
    if (alive[g] != 0) cand.push_back(g);
  const size_t take = size_t(picked.numel());
  SP_REQUIRE(take <= cand.size(), "ops::pick_cheapest: {} groups asked of {} live", take, cand.size());
  auto key = [&](int32_t g) { return c[pos[g]]; };  // -0 == +0 under <
  // A partial sort: `take` is a small share of the candidates.
  std::partial_sort(cand.begin(), cand.begin() + std::ptrdiff_t(take), cand.end(),
                    [&](int32_t a, int32_t b) { return key(a) < key(b) || (key(a) == key(b) && a < b); });
  for (size_t i = 0; i < take; ++i) {
    picked.data<int32_t>()[i] = cand[i];
    picked_cost.data<double>()[i] = key(cand[i]) == 0.0 ? 0.0 : key(cand[i]);
    alive[cand[i]] = 0;
  }
}

void group_columns(const Tensor& picked, const Tensor& members, const Tensor& pos, int64_t b, Tensor& out) {
  const int32_t* g = picked.data<int32_t>();
  const int32_t* m = members.data<int32_t>();
  const int32_t* p = pos.data<int32_t>();
  int32_t* o = out.data<int32_t>();
  for (int64_t i = 0; i < picked.numel(); ++i)
    for (int64_t j = 0; j < b; ++j) o[i * b + j] = p[m[int64_t(g[i]) * b + j]];
  std::sort(o, o + out.numel());
}

void block_saliencies(const Tensor& a, const Tensor& w, int64_t block, std::vector<double>& out) {
  const int64_t n = a.dim(0), rows = w.dim(0);
  ConstMap<double> am(a.data<double>(), n, block);  // the blocks, stacked
  ConstMap<double> wm(w.data<double>(), rows, n);
  for (size_t g = 0; g < out.size(); ++g) {
    const int64_t o = int64_t(g) * block;
    const Eigen::LLT<RowMajor<double>, Eigen::Lower> llt(RowMajor<double>(am.block(o, 0, block, block)));
    const auto d = llt.matrixLLT().diagonal();
    out[g] = std::numeric_limits<double>::infinity();
    if (llt.info() != Eigen::Success || !((d.array() > 0.0) && d.array().isFinite()).all()) continue;
    RowMajor<double> y = wm.block(0, o, rows, block).transpose();  // W_g^T, [block, rows]
    llt.matrixL().solveInPlace(y);                                 // L_g^{-1} W_g^T
    const double s = y.squaredNorm();                              // tr(A_g^{-1} W_g^T W_g)
    if (std::isfinite(s)) out[g] = s;
  }
}

void add_diagonal(Tensor& a, double v) {
  dispatch_real(a.dtype(), [&](auto zero) {
    using T = decltype(zero);
    const int64_t n = a.dim(0);
    T* p = a.data<T>();
    for (int64_t i = 0; i < n; ++i) p[i * n + i] = T(double(p[i * n + i]) + v);
  });
}

void add_scaled(Tensor& y, double alpha, const Tensor& x) {
  dispatch_real(y.dtype(), [&](auto zero) {
    using T = decltype(zero);
    const T a = T(alpha);
    const T* xp = x.data<T>();
    T* yp = y.data<T>();
    // Products in one loop, sums in the next: the stored product cannot be contracted with the add
    // into an FMA (this file is built with -march=native), so each is rounded as a GEMM rounds it.
    constexpr int64_t kChunk = 2048;
    T prod[kChunk];
    for (int64_t i0 = 0; i0 < y.numel(); i0 += kChunk) {
      const int64_t n = std::min(kChunk, y.numel() - i0);
      for (int64_t i = 0; i < n; ++i) prod[i] = a * xp[i0 + i];
      for (int64_t i = 0; i < n; ++i) yp[i0 + i] += prod[i];
    }
  });
}

void diagonal(const Tensor& a, Tensor& out) {
  dispatch_real(a.dtype(), [&](auto zero) {
    using T = decltype(zero);
    const int64_t n = a.dim(0);
    for (int64_t i = 0; i < n; ++i) out.data<T>()[i] = a.data<T>()[i * n + i];
  });
}

namespace {
int every_core() { return std::max(1, int(std::thread::hardware_concurrency())); }
std::atomic<int> g_threads{every_core()};
}  // namespace

void set_threads(int n) {
  g_threads = n > 0 ? n : every_core();
  Eigen::setNbThreads(g_threads);
}

int threads() { return g_threads; }

}  // namespace sp::cpu
