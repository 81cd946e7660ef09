// Every CUDA body of the pruning ops (kernels/ops_linalg.h) against its CPU body (the oracle, itself
// tested against float64 math in test_linalg_cpu), parameterised over the dtypes each op takes:
// F32 / BF16 / F16 / F64 activations for the statistics, every float dtype for the gathers and
// scatters, F32 / F64 for the dense algebra.
//
// Inputs are random values rounded to the dtype first; the CPU body gets F32 (or F64) copies of the
// same values. Outputs are poisoned with NaN (all-ones bytes) before each launch, so an unwritten
// element fails; accumulators start from random values instead. Skips without a GPU (and so in a
// CPU-only build, where the CUDA bodies are stubs).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "core/context.h"
#include "core/dtype.h"
#include "kernels/cpu/cpu_ops.h"
#include "kernels/cuda/cuda_ops.h"
#include "kernels/gpu_test_util.h"
#include "kernels/ops_linalg.h"
#include "test_util.h"

namespace sp {
namespace {

using test::ids_on_device;
using test::poisoned;

using Vec = std::vector<double>;
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// A host copy for the CPU body (F32, or F64 for F64) and the device tensor in dt, same values.
struct Operand {
  Tensor host;
  Tensor dev;
};

DType host_dtype(DType dt) { return dt == DType::F64 ? DType::F64 : DType::F32; }

Operand upload(const Vec& v, const Shape& shape, DType dt) {
  ExecContext cpu(Device::cpu());
  Tensor f64 = Tensor::empty(shape, DType::F64);
  std::copy(v.begin(), v.end(), f64.data<double>());
  Operand o;
  const Tensor in_dt = dt == DType::F64 ? f64 : ops::convert(cpu, f64, dt);  // rounded to dt
  o.host = dt == host_dtype(dt) ? in_dt : ops::convert(cpu, in_dt, host_dtype(dt));
  o.dev = in_dt.to(Device::cuda(0));
  return o;
}

Vec random_values(std::mt19937& g, int64_t n, double scale = 1.0, double mean = 0.0) {
  std::normal_distribution<double> d(mean, scale);
  Vec v(static_cast<size_t>(n));
  for (auto& x : v) x = d(g);
  return v;
}

Operand random_operand(std::mt19937& g, const Shape& shape, DType dt, double scale = 1.0, double mean = 0.0) {
  return upload(random_values(g, shape_numel(shape), scale, mean), shape, dt);
}

// Relative L2 distance of the GPU result from the CPU result within tol; every element must be
// finite where the oracle is, so poisoned, unwritten outputs fail.
void expect_close(const Tensor& gpu, const Tensor& cpu, double tol, const std::string& what) {
  const double rel = test::checked_relative_l2(gpu, cpu, what);
  EXPECT_LE(rel, tol) << what << ": relative L2 error " << rel;
  test::expect_elementwise_close(gpu, cpu, test::kElementwiseFactor * tol, what);
}

void expect_same_bits(const Tensor& gpu, const Tensor& cpu, const std::string& what) {
  const Tensor g = gpu.to(Device::cpu());
  ASSERT_EQ(g.shape(), cpu.shape()) << what;
  ASSERT_EQ(g.dtype(), cpu.dtype()) << what;
  EXPECT_EQ(0, std::memcmp(g.raw(), cpu.raw(), g.nbytes())) << what << ": differs from the CPU body";
}

// A = G G^T + n I: symmetric, comfortably positive definite (float64, row-major).
Vec spd_values(std::mt19937& g, int64_t n) {
  const Vec gm = random_values(g, n * n);
  Vec a(size_t(n * n), 0.0);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j <= i; ++j) {
      double s = 0;
      for (int64_t p = 0; p < n; ++p) s += gm[size_t(i * n + p)] * gm[size_t(j * n + p)];
      a[size_t(i * n + j)] = a[size_t(j * n + i)] = s + (i == j ? double(n) : 0.0);
    }
  return a;
}

class GpuFixture : public ::testing::TestWithParam<DType> {
 protected:
  void SetUp() override {
    SP_REQUIRE_GPU();
    ctx_ = std::make_unique<ExecContext>(Device::cuda(0));
    seed_ = test::test_seed();
    rng_.seed(seed_);
    ::testing::Test::RecordProperty("seed", std::to_string(seed_));
  }
  void TearDown() override {
    if (HasFailure()) std::printf("  (inputs from seed %u: rerun with STRUPRUNE_TEST_SEED=%u)\n", seed_, seed_);
  }
  ExecContext& ctx() { return *ctx_; }
  DType dt() const { return GetParam(); }
  std::string tag(const std::string& what) const { return what + "_" + dtype_name(GetParam()); }
  std::unique_ptr<ExecContext> ctx_;
  uint32_t seed_ = 0;
  std::mt19937 rng_;
};

std::string dtype_param_name(const ::testing::TestParamInfo<DType>& i) { return dtype_name(i.param); }

// ---- statistics: F32 / BF16 / F16 / F64 activations ------------------------------------------

class StatsGpu : public GpuFixture {};

TEST_P(StatsGpu, GramAndCrossGramAccumulate) {
  struct Case {
    int64_t t, n, m;
  };
  // Both products are fp32-accumulated (F64: fp64), cuBLAS and Eigen in different orders.
  const double tol = dt() == DType::F64 ? 1e-12 : 1e-5;
  for (const Case cs : {Case{300, 96, 50}, Case{1, 7, 3}, Case{1000, 257, 130}}) {
    Operand acc0 = random_operand(rng_, {cs.n, cs.m}, DType::F64, 10.0);
    Operand accg0 = random_operand(rng_, {cs.n, cs.n}, DType::F64, 10.0);
    Tensor acc = acc0.dev, accg = accg0.dev;  // accumulated in place (fresh device copies)
    Tensor ref = acc0.host, refg = accg0.host;
    for (int call = 0; call < 2; ++call) {
      Operand a = random_operand(rng_, {cs.t, cs.n}, dt(), 2.0, 0.5), b = random_operand(rng_, {cs.t, cs.m}, dt());
      cuda::gram_accumulate(ctx(), acc, a.dev, b.dev);
      cuda::gram_accumulate(ctx(), accg, a.dev, a.dev);
      cpu::gram_accumulate(ref, a.host, b.host);
      cpu::gram_accumulate(refg, a.host, a.host);
    }
    const std::string shape = "_t" + std::to_string(cs.t) + "_n" + std::to_string(cs.n);
    expect_close(acc, ref, tol, tag("cross_gram" + shape));
    expect_close(accg, refg, tol, tag("gram" + shape));
  }
}

TEST_P(StatsGpu, ColumnStats) {
  struct Case {
    int64_t t, n;
  };
  // Both sides accumulate exactly representable values in fp64, only the order differs.
  for (const Case cs : {Case{1000, 300}, Case{5, 33}, Case{70000, 40}, Case{129, 1}}) {
    Operand x = random_operand(rng_, {cs.t, cs.n}, dt(), 2.0, 3.0);
    Operand s0 = random_operand(rng_, {cs.n}, DType::F64), q0 = random_operand(rng_, {cs.n}, DType::F64, 1.0, 50.0);
    Tensor s = s0.dev, q = q0.dev, rs = s0.host, rq = q0.host;
    cuda::column_stats(ctx(), s, q, x.dev);
    cpu::column_stats(rs, rq, x.host);
    const std::string shape = "_t" + std::to_string(cs.t) + "_n" + std::to_string(cs.n);
    expect_close(s, rs, 1e-12, tag("column_sum" + shape));
    expect_close(q, rq, 1e-12, tag("column_sumsq" + shape));
    // Either output alone.
    Tensor none, s_only = s0.dev.clone(), q_only = q0.dev.clone();
    Tensor rs_only = s0.host.clone(), rq_only = q0.host.clone();
    cuda::column_stats(ctx(), s_only, none, x.dev);
    cuda::column_stats(ctx(), none, q_only, x.dev);
    cpu::column_stats(rs_only, none, x.host);
    cpu::column_stats(none, rq_only, x.host);
    expect_close(s_only, rs_only, 1e-12, tag("column_sum_alone" + shape));
    expect_close(q_only, rq_only, 1e-12, tag("column_sumsq_alone" + shape));
  }
}

// Through the front ends with a CUDA context: the dispatch, and BF16 / F16 admitted on the GPU.
TEST_P(StatsGpu, FrontEndsDispatchToCuda) {
  Operand a = random_operand(rng_, {64, 40}, dt());
  Tensor acc = Tensor::zeros({40, 40}, DType::F64, Device::cuda(0));
  ops::gram_accumulate_(ctx(), acc, a.dev, a.dev);
  Tensor ref = Tensor::zeros({40, 40}, DType::F64);
  cpu::gram_accumulate(ref, a.host, a.host);
  expect_close(acc, ref, dt() == DType::F64 ? 1e-12 : 1e-5, tag("front_end_gram"));
  Tensor s = Tensor::zeros({40}, DType::F64, Device::cuda(0)), none;
  ops::column_stats_(ctx(), s, none, a.dev);
  Tensor rs = Tensor::zeros({40}, DType::F64);
  cpu::column_stats(rs, none, a.host);
  expect_close(s, rs, 1e-12, tag("front_end_column_stats"));
}

INSTANTIATE_TEST_SUITE_P(Dtypes, StatsGpu, ::testing::Values(DType::F32, DType::BF16, DType::F16, DType::F64),
                         dtype_param_name);

// A wide accumulator is formed in column blocks of the fp32 temporary (1 GiB): two blocks here.
// (~2 GiB of F64 accumulator on each side.)
TEST(GramGpuLarge, WideAccumulatorSpansTemporaryBlocks) {
  SP_REQUIRE_GPU();
  ExecContext ctx(Device::cuda(0));
  std::mt19937 rng(test::test_seed());
  const int64_t t = 4, n = 16385, m = 16400;  // 2^28 / n = 16383 columns per block: 16383 + 17
  Operand a = random_operand(rng, {t, n}, DType::F32), b = random_operand(rng, {t, m}, DType::F32);
  Tensor acc = Tensor::zeros({n, m}, DType::F64, Device::cuda(0));
  cuda::gram_accumulate(ctx, acc, a.dev, b.dev);
  Tensor ref = Tensor::zeros({n, m}, DType::F64);
  cpu::gram_accumulate(ref, a.host, b.host);
  const Tensor got = acc.to(Device::cpu());
  const double* g = got.data<double>();
  const double* r = ref.data<double>();
  double worst = 0.0;
  int64_t at = 0;
  for (int64_t i = 0; i < n * m; ++i) {
    double e = std::abs(g[i] - r[i]) / (1e-5 + 1e-5 * std::abs(r[i]));
    if (std::isnan(e)) e = std::numeric_limits<double>::infinity();  // unwritten / NaN
    if (e > worst) worst = e, at = i;
  }
  EXPECT_LE(worst, 1.0) << "element (" << at / m << ", " << at % m << "): " << g[at] << " vs " << r[at];
}

// ---- gathers, scatters, transpose: every float dtype, exact ----------------------------------

// The CUDA body of the exact sum gives the CPU body's limbs and values bit for bit.
TEST(ExactSumGpu, LimbsAndValuesEqualTheCpu) {
  SP_REQUIRE_GPU();
  ExecContext cpu(Device::cpu()), gpu(Device::cuda(0));
  std::mt19937 g(11);
  std::lognormal_distribution<double> mag(0.0, 8.0);
  const int64_t n = 5000;
  Tensor ac = ops::exact_zeros(cpu, n), ag = ops::exact_zeros(gpu, n);
  for (int t = 0; t < 5; ++t) {
    Tensor x = Tensor::empty({n}, DType::F64);
    for (int64_t i = 0; i < n; ++i) x.data<double>()[i] = (i % 2 ? -1 : 1) * mag(g);
    ops::exact_accumulate_(cpu, ac, x);
    ops::exact_accumulate_(gpu, ag, x.to(gpu.device()));
  }
  const Tensor lg = ag.to(Device::cpu());
  for (int64_t i = 0; i < ac.numel(); ++i) ASSERT_EQ(ac.data<int64_t>()[i], lg.data<int64_t>()[i]) << i;
  const Tensor vc = ops::exact_value(cpu, ac, {n}, "t"), vg = ops::exact_value(gpu, ag, {n}, "t").to(Device::cpu());
  for (int64_t i = 0; i < n; ++i) ASSERT_EQ(vc.data<double>()[i], vg.data<double>()[i]) << i;
}

// A Gram summed as its packed lower triangle: on the GPU the 16-bit products go into the limbs block
// by block (gram_exact_accumulate_), which must give the limbs of the two-step path (the F64 matrix of
// gram_accumulate_, then exact_accumulate_lower_) bit for bit, both below and above the width where
// the symmetric blocks start (128); read back, both triangles equal the full accumulator's lower one.
TEST(ExactSumGpu, GramStraightIntoLowerLimbsEqualsTheTwoSteps) {
  SP_REQUIRE_GPU();
  ExecContext gpu(Device::cuda(0)), cpu(Device::cpu());
  std::mt19937 g(12);
  for (const DType dt : {DType::BF16, DType::F16, DType::F32})
    for (const int64_t n : {int64_t(100), int64_t(300)}) {
      Tensor fused = ops::exact_zeros(gpu, ops::lower_count(n)), steps = ops::exact_zeros(gpu, ops::lower_count(n));
      Tensor full = ops::exact_zeros(gpu, n * n);
      for (int t = 0; t < 3; ++t) {
        const Tensor a = random_operand(g, {257, n}, dt).dev;
        ops::gram_exact_accumulate_(gpu, fused, a);
        Tensor part = Tensor::zeros({n, n}, DType::F64, gpu.device());
        ops::gram_accumulate_(gpu, part, a, a);
        ops::exact_accumulate_lower_(gpu, steps, part);
        ops::exact_accumulate_(gpu, full, part);
      }
      const Tensor lf = fused.to(Device::cpu()), ls = steps.to(Device::cpu());
      for (int64_t i = 0; i < lf.numel(); ++i)
        ASSERT_EQ(lf.data<int64_t>()[i], ls.data<int64_t>()[i]) << dtype_name(dt) << " n " << n << " limb " << i;
      const Tensor v = ops::exact_value_symmetric(gpu, fused, n, "t").to(Device::cpu());
      const Tensor vf = ops::exact_value(gpu, full, {n, n}, "t").to(Device::cpu());
      const Tensor vc = ops::exact_value_symmetric(cpu, lf, n, "t");
      for (int64_t i = 0; i < n; ++i)
        for (int64_t j = 0; j < n; ++j) {
          const double want = vf.data<double>()[std::max(i, j) * n + std::min(i, j)];
          ASSERT_EQ(v.data<double>()[i * n + j], want) << dtype_name(dt) << " n " << n << " " << i << "," << j;
          ASSERT_EQ(vc.data<double>()[i * n + j], want) << "the CPU's read-back";
          // The full matrix is itself symmetric (so its lower triangle loses nothing).
          ASSERT_EQ(vf.data<double>()[i * n + j], vf.data<double>()[j * n + i]) << i << "," << j;
        }
    }
}

// The chunked gathers on the GPU: stream-ordered chunks, the in-place narrowing included, give the
// CPU's result bit for bit (a 2100-wide F64 matrix: two chunks of rows).
TEST(SelectSquareGpu, InPlaceNarrowingEqualsTheCpu) {
  SP_REQUIRE_GPU();
  ExecContext gpu(Device::cuda(0)), cpu(Device::cpu());
  std::mt19937 g(13);
  const int64_t n = 2100;
  Tensor a = random_operand(g, {n, n}, DType::F64).dev, ah = a.to(Device::cpu());
  std::vector<int32_t> keep;
  for (int32_t i = 0; i < int32_t(n); ++i)
    if (i % 5 != 1) keep.push_back(i);
  const int64_t k = int64_t(keep.size());
  const Tensor kh = Tensor::from_i32(keep, {k});
  const Tensor block = ops::select_block(gpu, a, kh.slice_rows(0, 9).to(gpu.device()), kh.to(gpu.device()));
  const Tensor block_ref = ops::select_block(cpu, ah, kh.slice_rows(0, 9), kh);
  ops::select_square_(gpu, a, kh.to(gpu.device()));
  ops::select_square_(cpu, ah, kh);
  ASSERT_EQ(a.shape(), ah.shape());
  EXPECT_EQ(a.to(Device::cpu()).to_f64_vector(), ah.to_f64_vector());
  EXPECT_EQ(block.to(Device::cpu()).to_f64_vector(), block_ref.to_f64_vector());
}

// The greedy's device pick against the CPU's: many ties, dead groups, -0, +inf; a width past one
// radix-sort tile (11008, an MLP's neurons); then the picked groups' columns.
TEST(PickGpu, CheapestGroupsAndTheirColumnsEqualTheCpu) {
  SP_REQUIRE_GPU();
  ExecContext gpu(Device::cuda(0)), cpu(Device::cpu());
  std::mt19937 g(17);
  for (const int64_t groups : {int64_t(37), int64_t(11008)}) {
    const int64_t m = groups + 5, k = std::min<int64_t>(43, groups / 2);
    std::vector<double> cost(static_cast<size_t>(m));
    std::uniform_int_distribution<int> level(0, 40);
    for (auto& c : cost) c = level(g) * 0.125;
    cost[0] = -0.0, cost[1] = std::numeric_limits<double>::infinity();
    std::vector<int32_t> at(static_cast<size_t>(groups)), live(static_cast<size_t>(groups), 1);
    std::uniform_int_distribution<int32_t> place(0, int32_t(m - 1));
    for (auto& a : at) a = place(g);
    for (int64_t i = 0; i < groups; i += 4) live[size_t(i)] = 0;
    Tensor ch = Tensor::empty({m}, DType::F64);
    std::copy(cost.begin(), cost.end(), ch.data<double>());
    const Tensor ath = Tensor::from_i32(at, {groups});
    Tensor alive_h = Tensor::from_i32(live, {groups}), alive_d = alive_h.to(gpu.device());
    Tensor pk_h = Tensor::empty({k}, DType::I32), pc_h = Tensor::empty({k}, DType::F64);
    Tensor pk_d = poisoned({k}, DType::I32), pc_d = poisoned({k}, DType::F64);
    ops::pick_cheapest_(cpu, ch, ath, alive_h, pk_h, pc_h);
    ops::pick_cheapest_(gpu, ch.to(gpu.device()), ath.to(gpu.device()), alive_d, pk_d, pc_d);
    const std::string tag = "groups " + std::to_string(groups);
    expect_same_bits(pk_d, pk_h, tag + " picks");
    expect_same_bits(pc_d, pc_h, tag + " costs");
    expect_same_bits(alive_d, alive_h, tag + " live flags");
    // Their columns: groups of 2 over a shuffled position map.
    std::vector<int32_t> members(size_t(2 * groups)), pos(size_t(2 * groups));
    for (size_t i = 0; i < members.size(); ++i) members[i] = int32_t(i), pos[i] = int32_t(i);
    std::shuffle(pos.begin(), pos.end(), g);
    const Tensor mh = Tensor::from_i32(members, {2 * groups}), ph = Tensor::from_i32(pos, {2 * groups});
    const Tensor cols_h = ops::group_columns(cpu, pk_h, mh, ph, 2);
    const Tensor cols_d = ops::group_columns(gpu, pk_d, mh.to(gpu.device()), ph.to(gpu.device()), 2);
    expect_same_bits(cols_d, cols_h, tag + " columns");
  }
}

class SelectGpu : public GpuFixture {};

TEST_P(SelectGpu, GathersScattersAndTransposeAreExact) {
  const int64_t r = 70, c = 45;
  Operand x = random_operand(rng_, {r, c}, dt());
  // Host reference in dt itself (bits), from the CPU bodies.
  const Tensor xh = x.dev.to(Device::cpu());
  std::uniform_int_distribution<int32_t> ur(0, int32_t(r - 1)), uc(0, int32_t(c - 1));
  std::vector<int32_t> rows(33), cols(21);
  for (auto& i : rows) i = ur(rng_);
  for (auto& i : cols) i = uc(rng_);
  {
    Tensor out = poisoned({33, c}, dt()), ref = Tensor::empty({33, c}, dt());
    cuda::select_rows(ctx(), x.dev, ids_on_device(rows), out);
    cpu::select_rows(xh, Tensor::from_i32(rows, {33}), ref);
    expect_same_bits(out, ref, tag("select_rows"));
  }
  {
    Tensor out = poisoned({r, 21}, dt()), ref = Tensor::empty({r, 21}, dt());
    cuda::select_cols(ctx(), x.dev, ids_on_device(cols), out);
    cpu::select_cols(xh, Tensor::from_i32(cols, {21}), ref);
    expect_same_bits(out, ref, tag("select_cols"));
  }
  {  // The diagonal blocks of a square x[idx, idx], blocks of 7.
    Operand sq = random_operand(rng_, {r, r}, dt());
    std::vector<int32_t> idx(35);
    for (auto& i : idx) i = ur(rng_);
    Tensor out = poisoned({35, 7}, dt()), ref = Tensor::empty({35, 7}, dt());
    cuda::select_diagonal_blocks(ctx(), sq.dev, ids_on_device(idx), out);
    cpu::select_diagonal_blocks(sq.dev.to(Device::cpu()), Tensor::from_i32(idx, {35}), ref);
    expect_same_bits(out, ref, tag("select_diagonal_blocks"));
  }
  // Scatters into zeros: distinct targets.
  std::vector<int32_t> perm_r(100), perm_c(64);
  for (size_t i = 0; i < perm_r.size(); ++i) perm_r[i] = int32_t(i);
  for (size_t i = 0; i < perm_c.size(); ++i) perm_c[i] = int32_t(i);
  std::shuffle(perm_r.begin(), perm_r.end(), rng_);
  std::shuffle(perm_c.begin(), perm_c.end(), rng_);
  perm_r.resize(size_t(r));
  perm_c.resize(size_t(c));
  {
    Tensor out = poisoned({100, c}, dt()), ref = Tensor::empty({100, c}, dt());
    cuda::expand_rows(ctx(), x.dev, ids_on_device(perm_r), out);
    cpu::expand_rows(xh, Tensor::from_i32(perm_r, {r}), ref);
    expect_same_bits(out, ref, tag("expand_rows"));
  }
  {
    Tensor out = poisoned({r, 64}, dt()), ref = Tensor::empty({r, 64}, dt());
    cuda::expand_cols(ctx(), x.dev, ids_on_device(perm_c), out);
    cpu::expand_cols(xh, Tensor::from_i32(perm_c, {c}), ref);
    expect_same_bits(out, ref, tag("expand_cols"));
  }
  // Transpose: partial tiles, single rows / columns, several tiles each way.
  for (const Shape& s : {Shape{70, 45}, Shape{1, 100}, Shape{100, 1}, Shape{64, 96}, Shape{257, 33}}) {
    Operand y = random_operand(rng_, s, dt());
    const Tensor yh = y.dev.to(Device::cpu());
    Tensor out = poisoned({s[1], s[0]}, dt()), ref = Tensor::empty({s[1], s[0]}, dt());
    cuda::transpose(ctx(), y.dev, out);
    cpu::transpose(yh, ref);
    expect_same_bits(out, ref, tag("transpose_" + std::to_string(s[0]) + "x" + std::to_string(s[1])));
  }
  // Front ends with a CUDA context.
  Tensor fr = ops::select_rows(ctx(), x.dev, ids_on_device(rows));
  Tensor back =
      ops::expand_rows(ctx(), ops::select_cols(ctx(), x.dev, ids_on_device(perm_c)), ids_on_device(perm_r), 100);
  EXPECT_EQ(fr.shape(), (Shape{33, c}));
  EXPECT_EQ(back.shape(), (Shape{100, c}));
  EXPECT_TRUE(fr.device() == Device::cuda(0));
}

INSTANTIATE_TEST_SUITE_P(Dtypes, SelectGpu, ::testing::Values(DType::F32, DType::F64, DType::BF16, DType::F16),
                         dtype_param_name);

// ---- dense algebra: F32 / F64 ----------------------------------------------------------------

class DenseGpu : public GpuFixture {
 protected:
  double tol() const { return dt() == DType::F32 ? 1e-5 : 1e-12; }
};

TEST_P(DenseGpu, GemmAllTransposeCombinationsWithAlphaBeta) {
  struct Case {
    int64_t m, k, n;
  };
  for (const Case cs : {Case{13, 17, 11}, Case{130, 200, 70}, Case{1, 300, 2}, Case{256, 64, 512}}) {
    for (const bool ta : {false, true})
      for (const bool tb : {false, true}) {
        const Shape sa = ta ? Shape{cs.k, cs.m} : Shape{cs.m, cs.k};
        const Shape sb = tb ? Shape{cs.n, cs.k} : Shape{cs.k, cs.n};
        Operand a = random_operand(rng_, sa, dt()), b = random_operand(rng_, sb, dt());
        const std::string what = tag(std::string("gemm") + (ta ? "_aT" : "_a") + (tb ? "_bT" : "_b") + "_m" +
                                     std::to_string(cs.m) + "_k" + std::to_string(cs.k));
        // beta = 0: c's old values (NaN) are never read.
        Tensor c = poisoned({cs.m, cs.n}, dt()), ref = Tensor::empty({cs.m, cs.n}, host_dtype(dt()));
        cuda::gemm(ctx(), c, a.dev, ta, b.dev, tb, 0.75, 0.0);
        cpu::gemm(ref, a.host, ta, b.host, tb, 0.75, 0.0);
        expect_close(c, ref, tol(), what + "_beta0");
        // beta != 0 scales the old c.
        Operand c0 = random_operand(rng_, {cs.m, cs.n}, dt());
        Tensor c1 = c0.dev, ref1 = c0.host;
        cuda::gemm(ctx(), c1, a.dev, ta, b.dev, tb, -1.5, -0.5);
        cpu::gemm(ref1, a.host, ta, b.host, tb, -1.5, -0.5);
        expect_close(c1, ref1, tol(), what + "_beta");
      }
  }
  // K = 0: zeros (beta = 0, NaN in c) or beta c.
  Tensor c = poisoned({3, 5}, dt());
  cuda::gemm(ctx(), c, Tensor::empty({3, 0}, dt(), Device::cuda(0)), false,
             Tensor::empty({0, 5}, dt(), Device::cuda(0)), false, 1.0, 0.0);
  EXPECT_EQ(c.to_f64_vector(), Vec(15, 0.0));
  // matmul through the front end.
  Operand a = random_operand(rng_, {40, 30}, dt()), b = random_operand(rng_, {20, 30}, dt());
  Tensor mm = ops::matmul(ctx(), a.dev, false, b.dev, true);
  Tensor ref = Tensor::empty({40, 20}, host_dtype(dt()));
  cpu::gemm(ref, a.host, false, b.host, true, 1.0, 0.0);
  expect_close(mm, ref, tol(), tag("matmul"));
}

TEST_P(DenseGpu, CholeskyFactorsReadingOnlyTheLowerTriangle) {
  for (const int64_t n : {int64_t(1), int64_t(37), int64_t(300)}) {
    Vec a = spd_values(rng_, n);
    Vec in = a;
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = i + 1; j < n; ++j) in[size_t(i * n + j)] = kNaN;  // must never be read
    Operand m = upload(in, {n, n}, dt());
    Tensor l = m.dev, ref = m.host;
    ASSERT_TRUE(cuda::cholesky(ctx(), l, nullptr)) << "n " << n;
    ASSERT_TRUE(cpu::cholesky(ref)) << "n " << n;
    const Vec lv = l.to_f64_vector();
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = i + 1; j < n; ++j) ASSERT_EQ(lv[size_t(i * n + j)], 0.0) << "upper (" << i << ", " << j << ")";
    expect_close(l, ref, tol(), tag("cholesky_n" + std::to_string(n)));
  }
  // Through the front end.
  Operand m = upload(spd_values(rng_, 20), {20, 20}, dt());
  Tensor l = m.dev;
  EXPECT_TRUE(ops::cholesky_(ctx(), l));
}

TEST_P(DenseGpu, CholeskyReturnsFalseWhenNotPositiveDefinite) {
  const int64_t n = 40;
  Vec a = spd_values(rng_, n);
  a[size_t(17 * n + 17)] = -3.0;  // indefinite
  Tensor t = upload(a, {n, n}, dt()).dev;
  EXPECT_FALSE(cuda::cholesky(ctx(), t, nullptr));
  Tensor s = upload({1, 2, 2, 1}, {2, 2}, dt()).dev;  // eigenvalues 3 and -1
  EXPECT_FALSE(cuda::cholesky(ctx(), s, nullptr));
  Tensor z = upload({1, 1, 1, 1}, {2, 2}, dt()).dev;  // singular
  EXPECT_FALSE(cuda::cholesky(ctx(), z, nullptr));
  Vec bad = spd_values(rng_, n);
  bad[size_t(30 * n + 2)] = kNaN;  // NaN in the lower triangle
  Tensor tb = upload(bad, {n, n}, dt()).dev;
  EXPECT_FALSE(cuda::cholesky(ctx(), tb, nullptr));
  // The same context factors a good matrix afterwards (no sticky state).
  Tensor good = upload(spd_values(rng_, n), {n, n}, dt()).dev;
  EXPECT_TRUE(cuda::cholesky(ctx(), good, nullptr));
  // Counted on the device instead of returned: the two failures of three factorisations.
  Tensor failures = Tensor::zeros({1}, DType::I32, Device::cuda(0));
  Tensor t2 = upload(a, {n, n}, dt()).dev, s2 = upload({1, 2, 2, 1}, {2, 2}, dt()).dev;
  Operand good2 = upload(spd_values(rng_, n), {n, n}, dt());
  Tensor ref = good2.host;
  EXPECT_TRUE(ops::cholesky_(ctx(), t2, &failures));
  EXPECT_TRUE(ops::cholesky_(ctx(), good2.dev, &failures));
  EXPECT_TRUE(ops::cholesky_(ctx(), s2, &failures));
  EXPECT_EQ(failures.to(Device::cpu()).data<int32_t>()[0], 2);
  ASSERT_TRUE(cpu::cholesky(ref));
  expect_close(good2.dev, ref, tol(), tag("counted_factor"));
}

// n = 200 and 700: the inverse's recursion (blocks of at most 128) one and three levels deep, halves
// of odd sizes included; 1100: its top halves (550) multiplied as general products over panels of
// 512 and a partial one.
TEST_P(DenseGpu, CholeskySolveAndInverse) {
  for (const int64_t n : {int64_t(1), int64_t(45), int64_t(200), int64_t(700), int64_t(1100)}) {
    // One factor, from the CPU, given to both bodies: only the solve / inverse are compared.
    Operand m = upload(spd_values(rng_, n), {n, n}, dt());
    Tensor lh = m.host;
    ASSERT_TRUE(cpu::cholesky(lh));
    const Tensor ld = lh.to(Device::cuda(0));
    for (const int64_t rhs : {int64_t(1), int64_t(7), int64_t(130)}) {
      Operand b = random_operand(rng_, {n, rhs}, dt());
      Tensor x = poisoned({n, rhs}, dt()), ref = Tensor::empty({n, rhs}, host_dtype(dt()));
      cuda::cholesky_solve(ctx(), ld, b.dev, x);
      cpu::cholesky_solve(lh, b.host, ref);
      expect_close(x, ref, tol(), tag("cholesky_solve_n" + std::to_string(n) + "_m" + std::to_string(rhs)));
    }
    Tensor ref = Tensor::empty({n, n}, host_dtype(dt()));
    cpu::cholesky_inverse(lh, ref);
    // Both GPU methods: the two solves (every n here) and the recursion (forced from width 0).
    for (const int64_t from : {cuda::kRecursiveInverseFrom, int64_t(0)}) {
      Tensor inv = poisoned({n, n}, dt());
      cuda::cholesky_inverse(ctx(), ld, inv, from);
      expect_close(inv, ref, tol(), tag("cholesky_inverse_n" + std::to_string(n) + "_from" + std::to_string(from)));
      const Vec iv = inv.to_f64_vector();
      for (int64_t i = 0; i < n; ++i)
        for (int64_t j = 0; j < i; ++j) ASSERT_EQ(iv[size_t(i * n + j)], iv[size_t(j * n + i)]) << "not symmetric";
    }
  }
  // Front ends: factor, solve, inverse on the GPU.
  const int64_t n = 30;
  Operand m = upload(spd_values(rng_, n), {n, n}, dt());
  Tensor l = m.dev.clone();
  ASSERT_TRUE(ops::cholesky_(ctx(), l));
  Operand b = random_operand(rng_, {n, 3}, dt());
  Tensor x = ops::cholesky_solve(ctx(), l, b.dev);
  Tensor lh = m.host;
  ASSERT_TRUE(cpu::cholesky(lh));
  Tensor ref = Tensor::empty({n, 3}, host_dtype(dt()));
  cpu::cholesky_solve(lh, b.host, ref);
  expect_close(x, ref, tol() * 10, tag("front_end_solve"));
  EXPECT_EQ(ops::cholesky_inverse(ctx(), l).shape(), (Shape{n, n}));
}

TEST_P(DenseGpu, AddDiagonalAndDiagonal) {
  const int64_t n = 77;
  Operand a = random_operand(rng_, {n, n}, dt());
  Tensor ad = a.dev, ah = a.host;
  cuda::add_diagonal(ctx(), ad, 0.125);
  cpu::add_diagonal(ah, 0.125);
  expect_same_bits(ad, ah, tag("add_diagonal"));
  Tensor d = poisoned({n}, dt()), dr = Tensor::empty({n}, host_dtype(dt()));
  cuda::diagonal(ctx(), ad, d);
  cpu::diagonal(ah, dr);
  expect_same_bits(d, dr, tag("diagonal"));
}

// y += alpha x bit for bit as the CPU body and as the GEMM y += x (alpha I) it replaces in the refit.
TEST_P(DenseGpu, AddScaledEqualsTheGemmAgainstAScaledIdentity) {
  const int64_t m = 67, n = 45;
  Operand y = random_operand(rng_, {m, n}, dt()), x = random_operand(rng_, {m, n}, dt());
  Tensor yd = y.dev.to(Device::cuda(0)), yh = y.host;
  cuda::add_scaled(ctx(), yd, 0.3719, x.dev);
  cpu::add_scaled(yh, 0.3719, x.host);
  expect_same_bits(yd, yh, tag("add_scaled"));
  Tensor eye = Tensor::zeros({n, n}, dt(), Device::cuda(0)), yg = y.dev.to(Device::cuda(0));
  cuda::add_diagonal(ctx(), eye, 0.3719);
  cuda::gemm(ctx(), yg, x.dev, false, eye, false, 1.0, 1.0);
  expect_same_bits(yd, yg.to(Device::cpu()), tag("add_scaled_vs_gemm"));
}

// The OBS greedy's held-update helpers (F64 only): the column dots and the single-column
// saliencies bit for bit with the CPU bodies (one thread per column, the rows in order, as there),
// and copy_ into a row range on the stream.
TEST_P(DenseGpu, ColumnDotsSaliencesAndCopy) {
  if (dt() != DType::F64) GTEST_SKIP() << "F64 ops";
  const int64_t k = 5, n = 1031, out = 7;
  Operand a = random_operand(rng_, {k, n}, dt()), b = random_operand(rng_, {k, n}, dt());
  Operand d = random_operand(rng_, {n}, dt(), 1.0, 30.0);  // positive after the dots: finite saliencies
  Tensor dd = d.dev, dh = d.host;
  ops::sub_column_dots_(ctx(), dd, a.dev, b.dev);
  cpu::sub_column_dots(dh, a.host, b.host);
  expect_same_bits(dd, dh, tag("sub_column_dots"));
  Operand w = random_operand(rng_, {out, n}, dt());
  const Tensor s = ops::column_saliencies(ctx(), w.dev, dd);
  ExecContext cpu(Device::cpu());
  const Tensor sh = ops::column_saliencies(cpu, w.host, dh);
  expect_close(s, sh, 1e-14, tag("column_saliencies"));
  Tensor buf = poisoned({k + 2, n}, dt());
  Tensor rows = buf.slice_rows(1, 1 + k);
  ops::copy_(ctx(), rows, a.dev);
  expect_same_bits(rows, a.host, tag("copy"));
}

INSTANTIATE_TEST_SUITE_P(Dtypes, DenseGpu, ::testing::Values(DType::F32, DType::F64), dtype_param_name);

// ---- convert with F64 ------------------------------------------------------------------------

class ConvertF64Gpu : public GpuFixture {};

TEST_P(ConvertF64Gpu, BothDirectionsMatchTheCpuBitForBit) {
  Vec v = random_values(rng_, 2053, 100.0);
  v[0] = 1.0 + std::ldexp(1.0, -30);  // below F32 resolution
  v[1] = 1.0 + std::ldexp(1.0, -8);   // a bf16 tie after rounding to F32
  v[2] = 70000.0;                     // beyond F16
  v[3] = 3e-8;                        // F16 subnormal range
  const int64_t n = int64_t(v.size());
  Tensor x = Tensor::empty({n}, DType::F64);
  std::copy(v.begin(), v.end(), x.data<double>());
  // F64 -> dt.
  Tensor out = poisoned({n}, dt()), ref = Tensor::empty({n}, dt());
  cuda::convert(ctx(), x.to(Device::cuda(0)), out);
  cpu::convert(x, ref);
  expect_same_bits(out, ref, tag("F64_to"));
  // dt -> F64.
  Tensor back = poisoned({n}, DType::F64), ref_back = Tensor::empty({n}, DType::F64);
  cuda::convert(ctx(), out, back);
  cpu::convert(ref, ref_back);
  expect_same_bits(back, ref_back, tag("to_F64"));
}

INSTANTIATE_TEST_SUITE_P(Dtypes, ConvertF64Gpu, ::testing::Values(DType::F32, DType::BF16, DType::F16),
                         dtype_param_name);

}  // namespace
}  // namespace sp
