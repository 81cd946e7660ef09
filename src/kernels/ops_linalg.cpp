// Front ends of the pruning ops (kernels/ops_linalg.h): calibration statistics, index selection,
// dense linear algebra. Checks, output sizing and one dispatch per op, as in ops_dense.cpp.
#include "kernels/ops_linalg.h"

#include <tuple>
#include <utility>
#include <vector>

#include "core/device.h"
#include "core/error.h"
#include "kernels/cpu/cpu_ops.h"
#include "kernels/cuda/cuda_ops.h"
#include "kernels/exact_sum.h"
#include "kernels/ops_common.h"

namespace sp::ops {

using namespace detail;

namespace {

// Statistics inputs: F32 / F64 on any device; BF16 / F16 activations only on CUDA.
void require_activation(const ExecContext& ctx, const Tensor& t, std::string_view op, std::string_view name) {
  require_on(ctx, t, op, name);
  const DType d = t.dtype();
  if (d == DType::F32 || d == DType::F64) return;
  SP_REQUIRE(d == DType::BF16 || d == DType::F16, "ops::{}: operand '{}' is {}; expected F32, F64, BF16 or F16", op,
             name, t.desc());
  SP_REQUIRE(ctx.is_cuda(),
             "ops::{}: operand '{}' is {}; the CPU backend takes F32 or F64, BF16 / F16 need a CUDA device", op, name,
             t.desc());
}

// Dense linear algebra: F32 or F64 on either device.
void require_real(const ExecContext& ctx, const Tensor& t, std::string_view op, std::string_view name) {
  require_on(ctx, t, op, name);
  SP_REQUIRE(t.dtype() == DType::F32 || t.dtype() == DType::F64, "ops::{}: operand '{}' is {}; expected F32 or F64", op,
             name, t.desc());
}

// Gathers and scatters move elements of any float dtype.
void require_any_float(const ExecContext& ctx, const Tensor& t, std::string_view op, std::string_view name) {
  require_on(ctx, t, op, name);
  const DType d = t.dtype();
  SP_REQUIRE(d == DType::F32 || d == DType::F64 || d == DType::BF16 || d == DType::F16,
             "ops::{}: operand '{}' is {}; expected F32, F64, BF16 or F16", op, name, t.desc());
}

void require_square(const Tensor& t, std::string_view op, std::string_view name) {
  require_ndim(t, 2, op, name);
  SP_REQUIRE(t.dim(0) == t.dim(1), "ops::{}: operand '{}' ({}) must be square", op, name, t.desc());
}

// An in-place output must not share memory with an input (the bodies read inputs after writing).
void require_disjoint(const Tensor& out, const Tensor& in, std::string_view op, std::string_view no,
                      std::string_view ni) {
  if (!out.defined() || !in.defined() || out.nbytes() == 0 || in.nbytes() == 0) return;
  if (!(out.device() == in.device())) return;
  const char* o = static_cast<const char*>(out.raw());
  const char* i = static_cast<const char*>(in.raw());
  SP_REQUIRE(o + out.nbytes() <= i || i + in.nbytes() <= o, "ops::{}: '{}' ({}) and '{}' ({}) must not share memory",
             op, no, out.desc(), ni, in.desc());
}

// idx: [k] I32 on the context's device.
void require_index(const ExecContext& ctx, const Tensor& idx, std::string_view op) {
  require_on(ctx, idx, op, "idx");
  require_dtype(idx, DType::I32, op, "idx");
  require_ndim(idx, 1, op, "idx");
}

// Index values are checked where they can be read without a device round trip: on the CPU.
void check_indices_on_cpu(const Tensor& idx, int64_t bound, bool distinct, std::string_view op, std::string_view what) {
  if (!idx.is_cpu()) return;
  const int32_t* p = idx.data<int32_t>();
  std::vector<bool> seen(distinct ? size_t(bound) : 0, false);
  for (int64_t i = 0; i < idx.numel(); ++i) {
    SP_REQUIRE(p[i] >= 0 && p[i] < bound, "ops::{}: idx[{}] = {} is outside the {} [0, {})", op, i, p[i], what, bound);
    if (distinct) {
      SP_REQUIRE(!seen[size_t(p[i])], "ops::{}: idx[{}] = {} repeats an earlier entry (entries must be distinct)", op,
                 i, p[i]);
      seen[size_t(p[i])] = true;
    }
  }
}

// Shape of op(a) op(b), checking the inner dimensions. -> {M, N}
std::pair<int64_t, int64_t> product_shape(const Tensor& a, bool trans_a, const Tensor& b, bool trans_b,
                                          std::string_view op) {
  require_ndim(a, 2, op, "a");
  require_ndim(b, 2, op, "b");
  require_same_dtype(a, b, op, "a", "b");
  const int64_t m = trans_a ? a.dim(1) : a.dim(0), k = trans_a ? a.dim(0) : a.dim(1);
  const int64_t kb = trans_b ? b.dim(1) : b.dim(0), n = trans_b ? b.dim(0) : b.dim(1);
  SP_REQUIRE(k == kb, "ops::{}: op(a) is [{}, {}] (a {}{}) and op(b) is [{}, {}] (b {}{}): inner dimensions disagree",
             op, m, k, a.desc(), trans_a ? ", transposed" : "", kb, n, b.desc(), trans_b ? ", transposed" : "");
  return {m, n};
}

}  // namespace

void gram_accumulate_(ExecContext& ctx, Tensor& acc, const Tensor& a, const Tensor& b) {
  require_activation(ctx, a, "gram_accumulate", "a");
  require_activation(ctx, b, "gram_accumulate", "b");
  require_same_dtype(a, b, "gram_accumulate", "a", "b");
  require_ndim(a, 2, "gram_accumulate", "a");
  require_ndim(b, 2, "gram_accumulate", "b");
  SP_REQUIRE(a.dim(0) == b.dim(0), "ops::gram_accumulate: a {} and b {} disagree on the number of rows ({} vs {})",
             a.desc(), b.desc(), a.dim(0), b.dim(0));
  require_on(ctx, acc, "gram_accumulate", "acc");
  require_dtype(acc, DType::F64, "gram_accumulate", "acc");
  require_shape(acc, {a.dim(1), b.dim(1)}, "gram_accumulate", "acc");
  require_disjoint(acc, a, "gram_accumulate", "acc", "a");
  require_disjoint(acc, b, "gram_accumulate", "acc", "b");
  if (a.dim(0) == 0 || acc.numel() == 0) return;
  if (ctx.is_cuda()) {
    cuda::gram_accumulate(ctx, acc, a, b);
  } else {
    cpu::gram_accumulate(acc, a, b);
  }
}

void column_stats_(ExecContext& ctx, Tensor& sum, Tensor& sumsq, const Tensor& x) {
  require_activation(ctx, x, "column_stats", "x");
  require_ndim(x, 2, "column_stats", "x");
  for (auto [t, name] : {std::pair<Tensor*, const char*>{&sum, "sum"}, {&sumsq, "sumsq"}}) {
    if (!t->defined()) continue;
    require_on(ctx, *t, "column_stats", name);
    require_dtype(*t, DType::F64, "column_stats", name);
    require_shape(*t, {x.dim(1)}, "column_stats", name);
    require_disjoint(*t, x, "column_stats", name, "x");
  }
  require_disjoint(sum, sumsq, "column_stats", "sum", "sumsq");
  if ((!sum.defined() && !sumsq.defined()) || x.numel() == 0) return;
  if (ctx.is_cuda()) {
    cuda::column_stats(ctx, sum, sumsq, x);
  } else {
    cpu::column_stats(sum, sumsq, x);
  }
}

Tensor exact_zeros(ExecContext& ctx, int64_t n) {
  SP_CHECK(n >= 0, "exact_zeros: n = {}", n);
  return Tensor::zeros({exact::kLimbs * n + 1}, DType::I64, ctx.device());
}

void exact_accumulate_(ExecContext& ctx, Tensor& acc, const Tensor& x) {
  require_on(ctx, x, "exact_accumulate", "x");
  require_on(ctx, acc, "exact_accumulate", "acc");
  require_dtype(x, DType::F64, "exact_accumulate", "x");
  require_dtype(acc, DType::I64, "exact_accumulate", "acc");
  require_shape(acc, {exact::kLimbs * x.numel() + 1}, "exact_accumulate", "acc");
  if (x.numel() == 0) return;
  if (ctx.is_cuda()) {
    cuda::exact_accumulate(ctx, acc, x);
  } else {
    cpu::exact_accumulate(acc, x);
  }
}

namespace {

// The count of values an accumulator of `values` entries could not add, as an error naming `what`.
void require_all_added(const Tensor& acc, int64_t values, std::string_view what) {
  int64_t bad = 0;
  device_copy(&bad, Device::cpu(), acc.data<int64_t>() + exact::kLimbs * values, acc.device(), sizeof bad);
  SP_REQUIRE(bad == 0, "{}: {} statistic value(s) are not finite or exceed 2^59 in magnitude (non-finite activations?)",
             what, bad);
}

void require_lower_acc(ExecContext& ctx, const Tensor& acc, int64_t n, const char* op) {
  require_on(ctx, acc, op, "acc");
  require_dtype(acc, DType::I64, op, "acc");
  require_shape(acc, {exact::kLimbs * lower_count(n) + 1}, op, "acc");
}

}  // namespace

void exact_accumulate_lower_(ExecContext& ctx, Tensor& acc, const Tensor& x) {
  require_on(ctx, x, "exact_accumulate_lower", "x");
  require_dtype(x, DType::F64, "exact_accumulate_lower", "x");
  require_square(x, "exact_accumulate_lower", "x");
  require_lower_acc(ctx, acc, x.dim(0), "exact_accumulate_lower");
  if (x.numel() == 0) return;
  if (ctx.is_cuda()) {
    cuda::exact_accumulate_lower(ctx, acc, x);
  } else {
    cpu::exact_accumulate_lower(acc, x);
  }
}

void gram_exact_accumulate_(ExecContext& ctx, Tensor& acc, const Tensor& a) {
  require_activation(ctx, a, "gram_exact_accumulate", "a");
  require_ndim(a, 2, "gram_exact_accumulate", "a");
  require_lower_acc(ctx, acc, a.dim(1), "gram_exact_accumulate");
  if (a.numel() == 0) return;
  const int64_t n = a.dim(1);
  if (ctx.is_cuda() && a.dtype() != DType::F64 && n >= kGramBlocksFrom) {
    cuda::gram_exact_accumulate(ctx, acc, a);
    return;
  }
  Tensor part = Tensor::zeros({n, n}, DType::F64, ctx.device());  // the two steps
  gram_accumulate_(ctx, part, a, a);
  exact_accumulate_lower_(ctx, acc, part);
}

Tensor exact_value_symmetric(ExecContext& ctx, const Tensor& acc, int64_t n, std::string_view what) {
  require_lower_acc(ctx, acc, n, "exact_value_symmetric");
  require_all_added(acc, lower_count(n), what);
  Tensor out = Tensor::empty({n, n}, DType::F64, ctx.device());
  if (n == 0) return out;
  if (ctx.is_cuda()) {
    cuda::exact_value_symmetric(ctx, acc, out);
  } else {
    cpu::exact_value_symmetric(acc, out);
  }
  return out;
}

Tensor exact_value(ExecContext& ctx, const Tensor& acc, const Shape& shape, std::string_view what) {
  require_on(ctx, acc, "exact_value", "acc");
  require_dtype(acc, DType::I64, "exact_value", "acc");
  const int64_t n = shape_numel(shape);
  require_shape(acc, {exact::kLimbs * n + 1}, "exact_value", "acc");
  require_all_added(acc, n, what);
  Tensor out = Tensor::empty(shape, DType::F64, ctx.device());
  if (n == 0) return out;
  if (ctx.is_cuda()) {
    cuda::exact_value(ctx, acc, out);
  } else {
    cpu::exact_value(acc, out);
  }
  return out;
}

Tensor select_rows(ExecContext& ctx, const Tensor& x, const Tensor& idx) {
  require_any_float(ctx, x, "select_rows", "x");
  require_ndim(x, 2, "select_rows", "x");
  require_index(ctx, idx, "select_rows");
  check_indices_on_cpu(idx, x.dim(0), false, "select_rows", "rows of x");
  Tensor out = Tensor::empty({idx.dim(0), x.dim(1)}, x.dtype(), ctx.device());
  if (out.numel() == 0) return out;
  if (ctx.is_cuda()) {
    cuda::select_rows(ctx, x, idx, out);
  } else {
    cpu::select_rows(x, idx, out);
  }
  return out;
}

Tensor select_cols(ExecContext& ctx, const Tensor& x, const Tensor& idx) {
  require_any_float(ctx, x, "select_cols", "x");
  require_ndim(x, 2, "select_cols", "x");
  require_index(ctx, idx, "select_cols");
  check_indices_on_cpu(idx, x.dim(1), false, "select_cols", "columns of x");
  Tensor out = Tensor::empty({x.dim(0), idx.dim(0)}, x.dtype(), ctx.device());
  if (out.numel() == 0) return out;
  if (ctx.is_cuda()) {
    cuda::select_cols(ctx, x, idx, out);
  } else {
    cpu::select_cols(x, idx, out);
  }
  return out;
}

namespace {

// x[rows, cols] written row-major from the start of out (flat, at least |rows| |cols| elements), a
// chunk of rows at a time so that a chunk's [rows, C] temporary stays within kGatherChunk; chunks go
// in order, so out may be x's own buffer when each chunk lands below the rows still to be read.
void gather_block_into(ExecContext& ctx, const Tensor& x, const Tensor& rows, const Tensor& cols, Tensor& out) {
  const int64_t r = rows.dim(0), k = cols.dim(0);
  const int64_t step = std::max<int64_t>(1, kGatherChunk / std::max<int64_t>(1, x.dim(1)));
  for (int64_t r0 = 0; r0 < r; r0 += step) {
    const int64_t r1 = std::min(r, r0 + step);
    Tensor dst = out.slice_rows(r0 * k, r1 * k);
    dst.copy_from(select_cols(ctx, select_rows(ctx, x, rows.slice_rows(r0, r1)), cols));
  }
}

}  // namespace

Tensor select_block(ExecContext& ctx, const Tensor& x, const Tensor& rows, const Tensor& cols) {
  require_ndim(x, 2, "select_block", "x");
  require_index(ctx, rows, "select_block");
  require_index(ctx, cols, "select_block");
  Tensor out = Tensor::empty({rows.dim(0) * cols.dim(0)}, x.dtype(), ctx.device());
  gather_block_into(ctx, x, rows, cols, out);
  return out.reshape({rows.dim(0), cols.dim(0)});
}

void select_square_(ExecContext& ctx, Tensor& a, const Tensor& idx) {
  require_square(a, "select_square", "a");
  require_index(ctx, idx, "select_square");
  const int64_t n = a.dim(0), k = idx.dim(0);
  SP_REQUIRE(k <= n, "ops::select_square: {} indices for a {}", k, a.desc());
  if (idx.is_cpu()) {
    const int32_t* p = idx.data<int32_t>();
    for (int64_t i = 1; i < k; ++i)
      SP_REQUIRE(p[i] > p[i - 1], "ops::select_square: indices must ascend (entry {} is {} after {})", i, p[i],
                 p[i - 1]);
  }
  // Chunk [r0, r1) lands in [r0 k, r1 k), below every row a later chunk reads (idx[r] >= r, so row
  // idx[r] starts at or after r n >= r k).
  Tensor flat = a.reshape({n * n});
  gather_block_into(ctx, a, idx, idx, flat);
  a = flat.slice_rows(0, k * k).reshape({k, k});
}

Tensor select_diagonal_blocks(ExecContext& ctx, const Tensor& x, const Tensor& idx, int64_t b) {
  require_any_float(ctx, x, "select_diagonal_blocks", "x");
  require_square(x, "select_diagonal_blocks", "x");
  require_index(ctx, idx, "select_diagonal_blocks");
  SP_REQUIRE(b >= 1 && idx.dim(0) % b == 0, "ops::select_diagonal_blocks: {} indices are not whole blocks of {}",
             idx.dim(0), b);
  check_indices_on_cpu(idx, x.dim(0), false, "select_diagonal_blocks", "rows of x");
  Tensor out = Tensor::empty({idx.dim(0), b}, x.dtype(), ctx.device());
  if (out.numel() == 0) return out;
  if (ctx.is_cuda()) {
    cuda::select_diagonal_blocks(ctx, x, idx, out);
  } else {
    cpu::select_diagonal_blocks(x, idx, out);
  }
  return out;
}

Tensor expand_rows(ExecContext& ctx, const Tensor& x, const Tensor& idx, int64_t rows) {
  require_any_float(ctx, x, "expand_rows", "x");
  require_ndim(x, 2, "expand_rows", "x");
  require_index(ctx, idx, "expand_rows");
  SP_REQUIRE(idx.dim(0) == x.dim(0), "ops::expand_rows: idx has {} entries but x {} has {} rows", idx.dim(0), x.desc(),
             x.dim(0));
  SP_REQUIRE(rows >= 0, "ops::expand_rows: rows = {} must be >= 0", rows);
  check_indices_on_cpu(idx, rows, true, "expand_rows", "output rows");
  Tensor out = Tensor::empty({rows, x.dim(1)}, x.dtype(), ctx.device());
  if (out.numel() == 0) return out;
  if (ctx.is_cuda()) {
    cuda::expand_rows(ctx, x, idx, out);
  } else {
    cpu::expand_rows(x, idx, out);
  }
  return out;
}

Tensor expand_cols(ExecContext& ctx, const Tensor& x, const Tensor& idx, int64_t cols) {
  require_any_float(ctx, x, "expand_cols", "x");
  require_ndim(x, 2, "expand_cols", "x");
  require_index(ctx, idx, "expand_cols");
  SP_REQUIRE(idx.dim(0) == x.dim(1), "ops::expand_cols: idx has {} entries but x {} has {} columns", idx.dim(0),
             x.desc(), x.dim(1));
  SP_REQUIRE(cols >= 0, "ops::expand_cols: cols = {} must be >= 0", cols);
  check_indices_on_cpu(idx, cols, true, "expand_cols", "output columns");
  Tensor out = Tensor::empty({x.dim(0), cols}, x.dtype(), ctx.device());
  if (out.numel() == 0) return out;
  if (ctx.is_cuda()) {
    cuda::expand_cols(ctx, x, idx, out);
  } else {
    cpu::expand_cols(x, idx, out);
  }
  return out;
}

void gemm_(ExecContext& ctx, Tensor& c, const Tensor& a, bool trans_a, const Tensor& b, bool trans_b, double alpha,
           double beta) {
  require_real(ctx, a, "gemm", "a");
  require_real(ctx, b, "gemm", "b");
  require_real(ctx, c, "gemm", "c");
  const auto [m, n] = product_shape(a, trans_a, b, trans_b, "gemm");
  require_same_dtype(a, c, "gemm", "a", "c");
  require_shape(c, {m, n}, "gemm", "c");
  require_disjoint(c, a, "gemm", "c", "a");
  require_disjoint(c, b, "gemm", "c", "b");
  if (c.numel() == 0) return;
  if (ctx.is_cuda()) {
    cuda::gemm(ctx, c, a, trans_a, b, trans_b, alpha, beta);
  } else {
    cpu::gemm(c, a, trans_a, b, trans_b, alpha, beta);
  }
}

Tensor matmul(ExecContext& ctx, const Tensor& a, bool trans_a, const Tensor& b, bool trans_b) {
  require_real(ctx, a, "matmul", "a");
  require_real(ctx, b, "matmul", "b");
  const auto [m, n] = product_shape(a, trans_a, b, trans_b, "matmul");
  Tensor c = Tensor::empty({m, n}, a.dtype(), ctx.device());
  if (c.numel() == 0) return c;
  if (ctx.is_cuda()) {
    cuda::gemm(ctx, c, a, trans_a, b, trans_b, 1.0, 0.0);
  } else {
    cpu::gemm(c, a, trans_a, b, trans_b, 1.0, 0.0);
  }
  return c;
}

Tensor transpose(ExecContext& ctx, const Tensor& x) {
  require_any_float(ctx, x, "transpose", "x");
  require_ndim(x, 2, "transpose", "x");
  Tensor out = Tensor::empty({x.dim(1), x.dim(0)}, x.dtype(), ctx.device());
  if (out.numel() == 0) return out;
  if (ctx.is_cuda()) {
    cuda::transpose(ctx, x, out);
  } else {
    cpu::transpose(x, out);
  }
  return out;
}

bool cholesky_(ExecContext& ctx, Tensor& a, Tensor* failures) {
  require_real(ctx, a, "cholesky", "a");
  require_square(a, "cholesky", "a");
  if (failures)
    SP_CHECK(failures->dtype() == DType::I32 && failures->numel() == 1 && failures->device() == a.device(),
             "cholesky_: failures {} must be one I32 on a's device", failures->desc());
  if (a.dim(0) == 0) return true;
  if (ctx.is_cuda()) return cuda::cholesky(ctx, a, failures);
  const bool ok = cpu::cholesky(a);
  if (!ok && failures) failures->data<int32_t>()[0] += 1;
  return ok || failures;
}

Tensor cholesky_solve(ExecContext& ctx, const Tensor& l, const Tensor& b) {
  require_real(ctx, l, "cholesky_solve", "l");
  require_square(l, "cholesky_solve", "l");
  require_real(ctx, b, "cholesky_solve", "b");
  require_ndim(b, 2, "cholesky_solve", "b");
  require_same_dtype(l, b, "cholesky_solve", "l", "b");
  SP_REQUIRE(b.dim(0) == l.dim(0), "ops::cholesky_solve: b {} must have as many rows as l {} ({})", b.desc(), l.desc(),
             l.dim(0));
  Tensor x = Tensor::empty(b.shape(), b.dtype(), ctx.device());
  if (x.numel() == 0) return x;
  if (ctx.is_cuda()) {
    cuda::cholesky_solve(ctx, l, b, x);
  } else {
    cpu::cholesky_solve(l, b, x);
  }
  return x;
}

Tensor cholesky_inverse(ExecContext& ctx, const Tensor& l) {
  require_real(ctx, l, "cholesky_inverse", "l");
  require_square(l, "cholesky_inverse", "l");
  Tensor out = Tensor::empty(l.shape(), l.dtype(), ctx.device());
  if (out.numel() == 0) return out;
  if (ctx.is_cuda()) {
    cuda::cholesky_inverse(ctx, l, out);
  } else {
    cpu::cholesky_inverse(l, out);
  }
  return out;
}

void cholesky_inverse_(ExecContext& ctx, Tensor& l) {
  require_real(ctx, l, "cholesky_inverse", "l");
  require_square(l, "cholesky_inverse", "l");
  if (ctx.is_cuda() && l.dim(0) >= cuda::kRecursiveInverseFrom) {
    cuda::cholesky_inverse(ctx, l, l);  // the recursive inverse works in place
    return;
  }
  l = cholesky_inverse(ctx, l);
}

Tensor column_saliencies(ExecContext& ctx, const Tensor& w, const Tensor& d) {
  require_on(ctx, d, "column_saliencies", "d");
  require_ndim(d, 1, "column_saliencies", "d");
  require_ndim(w, 2, "column_saliencies", "w");
  SP_REQUIRE(w.dtype() == DType::F64 && d.dtype() == DType::F64, "ops::column_saliencies: w {} and d {} must be F64",
             w.desc(), d.desc());
  SP_REQUIRE(w.dim(1) == d.dim(0), "ops::column_saliencies: w {} and d {} disagree on the columns", w.desc(), d.desc());
  Tensor none, s = Tensor::zeros({w.dim(1)}, DType::F64, ctx.device());
  column_stats_(ctx, none, s, w);
  if (s.numel() == 0) return s;
  if (ctx.is_cuda()) {
    cuda::divide_by(ctx, s, d);
  } else {
    cpu::divide_by(s, d);
  }
  return s;
}

void pick_cheapest_(ExecContext& ctx, const Tensor& cost, const Tensor& at, Tensor& live, Tensor& picked,
                    Tensor& picked_cost) {
  for (const auto& [t, name, dtype] : {std::tuple<const Tensor*, const char*, DType>{&cost, "cost", DType::F64},
                                       {&at, "at", DType::I32},
                                       {&live, "live", DType::I32},
                                       {&picked, "picked", DType::I32},
                                       {&picked_cost, "picked_cost", DType::F64}}) {
    require_on(ctx, *t, "pick_cheapest", name);
    require_dtype(*t, dtype, "pick_cheapest", name);
    require_ndim(*t, 1, "pick_cheapest", name);
  }
  SP_REQUIRE(at.numel() == live.numel() && picked.numel() == picked_cost.numel() && picked.numel() <= live.numel(),
             "ops::pick_cheapest: at {}, live {}, picked {} and picked_cost {} disagree", at.desc(), live.desc(),
             picked.desc(), picked_cost.desc());
  if (picked.numel() == 0) return;
  if (ctx.is_cuda()) {
    cuda::pick_cheapest(ctx, cost, at, live, picked, picked_cost);
  } else {
    cpu::pick_cheapest(cost, at, live, picked, picked_cost);
  }
}

Tensor group_columns(ExecContext& ctx, const Tensor& picked, const Tensor& members, const Tensor& pos, int64_t b) {
  for (const auto& [t, name] :
       {std::pair<const Tensor*, const char*>{&picked, "picked"}, {&members, "members"}, {&pos, "pos"}}) {
    require_on(ctx, *t, "group_columns", name);
    require_dtype(*t, DType::I32, "group_columns", name);
    require_ndim(*t, 1, "group_columns", name);
  }
  SP_REQUIRE(b >= 1 && members.numel() % b == 0, "ops::group_columns: members {} is not whole groups of {}",
             members.desc(), b);
  Tensor out = Tensor::empty({picked.numel() * b}, DType::I32, ctx.device());
  if (out.numel() == 0) return out;
  if (ctx.is_cuda()) {
    cuda::group_columns(ctx, picked, members, pos, b, out);
  } else {
    cpu::group_columns(picked, members, pos, b, out);
  }
  return out;
}

void sub_column_dots_(ExecContext& ctx, Tensor& d, const Tensor& a, const Tensor& b) {
  for (const auto& [t, name] : {std::pair<const Tensor*, const char*>{&d, "d"}, {&a, "a"}, {&b, "b"}}) {
    require_on(ctx, *t, "sub_column_dots", name);
    require_dtype(*t, DType::F64, "sub_column_dots", name);
  }
  require_ndim(d, 1, "sub_column_dots", "d");
  require_ndim(a, 2, "sub_column_dots", "a");
  SP_REQUIRE(a.shape() == b.shape() && a.dim(1) == d.dim(0), "ops::sub_column_dots: a {}, b {} and d {} disagree",
             a.desc(), b.desc(), d.desc());
  require_disjoint(d, a, "sub_column_dots", "d", "a");
  require_disjoint(d, b, "sub_column_dots", "d", "b");
  if (a.numel() == 0) return;
  if (ctx.is_cuda()) {
    cuda::sub_column_dots(ctx, d, a, b);
  } else {
    cpu::sub_column_dots(d, a, b);
  }
}

void copy_(ExecContext& ctx, Tensor& dst, const Tensor& src) {
  require_on(ctx, dst, "copy", "dst");
  require_on(ctx, src, "copy", "src");
  SP_REQUIRE(dst.dtype() == src.dtype() && dst.numel() == src.numel(), "ops::copy: {} into {}", src.desc(), dst.desc());
  require_disjoint(dst, src, "copy", "dst", "src");
  if (src.numel() == 0) return;
  if (ctx.is_cuda()) {
    cuda::copy(ctx, dst, src);
  } else {
    dst.copy_from(src);
  }
}

std::vector<double> block_saliencies(ExecContext& ctx, Tensor& a, const Tensor& w, int64_t block) {
  require_ndim(a, 2, "block_saliencies", "a");
  require_ndim(w, 2, "block_saliencies", "w");
  SP_REQUIRE(a.dtype() == DType::F64 && w.dtype() == DType::F64, "ops::block_saliencies: a {} and w {} must be F64",
             a.desc(), w.desc());
  SP_REQUIRE(a.device() == ctx.device() && w.device() == ctx.device(),
             "ops::block_saliencies: operands must be on {} (a {}, w {})", ctx.device().str(), a.desc(), w.desc());
  SP_REQUIRE(block >= 1 && a.dim(1) == block && a.dim(0) % block == 0 && w.dim(1) == a.dim(0),
             "ops::block_saliencies: a {} (stacked blocks) and w {} must hold whole blocks of {} columns", a.desc(),
             w.desc(), block);
  std::vector<double> out(size_t(a.dim(0) / block));
  if (out.empty()) return out;
  if (ctx.is_cuda()) {
    cuda::block_saliencies(ctx, a, w, block, out);
  } else {
    cpu::block_saliencies(a, w, block, out);
  }
  return out;
}

void add_diagonal_(ExecContext& ctx, Tensor& a, double v) {
  require_real(ctx, a, "add_diagonal", "a");
  require_square(a, "add_diagonal", "a");
  if (a.numel() == 0) return;
  if (ctx.is_cuda()) {
    cuda::add_diagonal(ctx, a, v);
  } else {
    cpu::add_diagonal(a, v);
  }
}

void add_scaled_(ExecContext& ctx, Tensor& y, double alpha, const Tensor& x) {
  require_real(ctx, y, "add_scaled", "y");
  require_real(ctx, x, "add_scaled", "x");
  require_same_dtype(y, x, "add_scaled", "y", "x");
  require_shape(x, y.shape(), "add_scaled", "x");
  if (y.numel() == 0) return;
  if (ctx.is_cuda()) {
    cuda::add_scaled(ctx, y, alpha, x);
  } else {
    cpu::add_scaled(y, alpha, x);
  }
}

Tensor diagonal(ExecContext& ctx, const Tensor& a) {
  require_real(ctx, a, "diagonal", "a");
  require_square(a, "diagonal", "a");
  Tensor out = Tensor::empty({a.dim(0)}, a.dtype(), ctx.device());
  if (out.numel() == 0) return out;
  if (ctx.is_cuda()) {
    cuda::diagonal(ctx, a, out);
  } else {
    cpu::diagonal(a, out);
  }
  return out;
}

void set_cpu_threads(int n) { cpu::set_threads(n); }

}  // namespace sp::ops
