// bench_linalg: the dense solves of the OBS curves on the GPU at the widths of real models: the
// Cholesky factorisation of H + delta I, and H^-1 from the factor in two ways: the recursive trtri +
// lauum on cuBLAS trmm / syrk (cuda::cholesky_inverse forced to it, 2 n^3 / 3 flops) against two
// triangular solves against the identity (ops::cholesky_solve(L, I), 2 n^3 flops; ops::cholesky_inverse
// takes them below cuda::kRecursiveInverseFrom columns), with
// the largest difference between the two results (64 sampled rows) relative to their largest entry.
//
//   bench_linalg [--n 4096 11008 28672] [--json OUT]
//
// H = G G^T / m + I with G [n, m = 1024] random (ops::synthetic_normal_), F64. Times: CUDA events on
// the context's stream, one warm-up, median of 3; achieved TFLOP/s from the nominal flop counts.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "bench/gpu_timer.h"
#include "core/context.h"
#include "core/device.h"
#include "core/error.h"
#include "kernels/cuda/cuda_ops.h"
#include "kernels/ops.h"
#include "kernels/ops_linalg.h"

namespace sp::bench {
namespace {

int run(int argc, char** argv) {
  std::vector<int64_t> sizes;
  std::string json_path;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--json" && i + 1 < argc) {
      json_path = argv[++i];
    } else if (a == "--n") {
      while (i + 1 < argc && argv[i + 1][0] != '-') sizes.push_back(std::stoll(argv[++i]));
    } else {
      std::fprintf(stderr, "usage: bench_linalg [--n N...] [--json OUT]\n");
      return 2;
    }
  }
  if (sizes.empty()) sizes = {4096, 11008, 28672};
  if (cuda_device_count() == 0) {
    std::fprintf(stderr, "bench_linalg: no CUDA GPU visible\n");
    return 2;
  }
  ExecContext ctx(Device::cuda(0));
  GpuTimer timer(ctx);
  nlohmann::json rows = nlohmann::json::array();
  std::printf(
      "%s\n| n | Cholesky ms | inverse ms (trtri + lauum) | two solves vs I ms | speed-up | TFLOP/s new / old | max "
      "diff |\n"
      "|---:|---:|---:|---:|---:|---:|---:|\n",
      device_name(0).c_str());
  for (const int64_t n : sizes) {
    const int64_t m = 1024;
    Tensor g32 = Tensor::empty({n, m}, DType::F32, ctx.device());
    ops::synthetic_normal_(ctx, g32, uint64_t(n), 1.0f);
    const Tensor g = ops::convert(ctx, g32, DType::F64);
    g32 = Tensor();
    Tensor h = Tensor::zeros({n, n}, DType::F64, ctx.device());
    ops::add_diagonal_(ctx, h, 1.0);
    ops::gemm_(ctx, h, g, false, g, true, 1.0 / double(m), 1.0);
    Tensor l = Tensor::empty({n, n}, DType::F64, ctx.device());
    bool ok = true;
    const double chol =
        timer.median_ms_with_setup([&] { ops::copy_(ctx, l, h); }, [&] { ok = ops::cholesky_(ctx, l) && ok; }, 1, 3);
    SP_REQUIRE(ok, "bench_linalg: H is not positive definite at n = {}", n);
    // The recursion at every width (ops::cholesky_inverse takes it from cuda::kRecursiveInverseFrom on).
    Tensor inv = Tensor::empty({n, n}, DType::F64, ctx.device()), old;
    const double t_new = timer.median_ms([&] { cuda::cholesky_inverse(ctx, l, inv, 0); }, 1, 3);
    Tensor eye = Tensor::zeros({n, n}, DType::F64, ctx.device());
    ops::add_diagonal_(ctx, eye, 1.0);
    const double t_old = timer.median_ms([&] { old = Tensor(), old = ops::cholesky_solve(ctx, l, eye); }, 1, 3);
    eye = Tensor();
    // The two results on 64 evenly spaced rows (the whole matrices would be 2 x 6.6 GB of host copies at n = 28672).
    std::vector<int32_t> pick;
    for (int64_t i = 0; i < 64; ++i) pick.push_back(int32_t(i * (n - 1) / 63));
    Tensor idx = Tensor::from_i32(pick, {64}).to(ctx.device());
    const std::vector<double> a = ops::select_rows(ctx, inv, idx).to_f64_vector();
    const std::vector<double> b = ops::select_rows(ctx, old, idx).to_f64_vector();
    double diff = 0, scale = 0;
    for (size_t i = 0; i < a.size(); ++i)
      diff = std::max(diff, std::abs(a[i] - b[i])), scale = std::max(scale, std::abs(b[i]));
    const double n3 = double(n) * double(n) * double(n);
    rows.push_back({{"n", n},
                    {"cholesky_ms", chol},
                    {"inverse_ms", t_new},
                    {"two_solves_ms", t_old},
                    {"speedup", t_old / t_new},
                    {"tflops_new", 2.0 * n3 / 3.0 / t_new / 1e9},
                    {"tflops_old", 2.0 * n3 / t_old / 1e9},
                    {"max_relative_difference", diff / scale}});
    std::printf("| %lld | %.1f | %.1f | %.1f | %.2fx | %.1f / %.1f | %.2g |\n", static_cast<long long>(n), chol, t_new,
                t_old, t_old / t_new, 2.0 * n3 / 3.0 / t_new / 1e9, 2.0 * n3 / t_old / 1e9, diff / scale);
  }
  if (!json_path.empty()) {
    std::ofstream(json_path) << nlohmann::json{{"device", device_name(0)}, {"rows", rows}}.dump(1) << "\n";
  }
  return 0;
}

}  // namespace
}  // namespace sp::bench

int main(int argc, char** argv) { return sp::bench::run(argc, argv); }
