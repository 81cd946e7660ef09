// CUDA bodies of the pruning ops (kernels/ops_linalg.h): calibration statistics, gathers /
// scatters, dense linear algebra through cuBLAS and cuSOLVER on the context's handles and stream.
//
// Row-major trick (as gemm.cu): a row-major [R, C] matrix is, in memory, the column-major [C, R]
// matrix of its transpose. So every library call below works on transposes:
//  * gemm:  c = op(a) op(b)  <=>  c^T = op(b)^T op(a)^T, column-major: cuBLAS's A is b, its B is a,
//           each with its own transpose flag, m and n swapped.
//  * gram:  acc[n, m] = a^T b  <=>  acc^T[m, n] = b^T a: column-major b is [m, T] (no transpose)
//           and column-major a is [n, T] (transposed).
//  * cholesky: the lower triangle of a row-major matrix is the upper triangle of its column-major
//           view, so potrf runs with CUBLAS_FILL_MODE_UPPER: the column-major U with
//           A = U^T U they produce is exactly L = U^T in the row-major lower triangle.
//  * solve: x [n, m] row-major is x^T [m, n] column-major. (L L^T) x = b <=> x^T U^T U = b^T with
//           U = L^T (the column-major upper triangle of l): two right-side triangular solves in
//           place, first with U, then with U^T; no transposed copies. The inverse inverts U in place
//           and forms U^{-1} U^{-T} (trtri + lauum, recursive, see invert_upper).
// F32 products are exact fp32 (CUBLAS_COMPUTE_32F_PEDANTIC for GemmEx; the handle's default math
// mode never uses TF32 for trsm). Statistics and their F64 accumulators use fixed-order reductions,
// so a result does not depend on scheduling.
#include <math_constants.h>

#include <algorithm>
#include <climits>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "kernels/cuda/common.cuh"
#include "kernels/cuda/cuda_ops.h"
#include "kernels/exact_sum.h"
#include "kernels/ops_linalg.h"

namespace sp::cuda {
namespace {

constexpr int kThreads = 256;

// fp64 view of the four float element types.
__device__ __forceinline__ double to_f64(double x) { return x; }
__device__ __forceinline__ double to_f64(float x) { return double(x); }
__device__ __forceinline__ double to_f64(__nv_bfloat16 x) { return double(__bfloat162float(x)); }
__device__ __forceinline__ double to_f64(__half x) { return double(__half2float(x)); }

[[noreturn]] void fail_linalg_dtype(const char* op, DType t, const char* admitted) {
  fail_input(std::string(op) + ": dtype " + dtype_name(t) + " is not supported on CUDA (" + admitted + ")");
}

// Statistics inputs: F32 / BF16 / F16 / F64.
template <typename F>
void dispatch_stat(DType t, const char* op, F&& f) {
  switch (t) {
    case DType::F32:
      f(Type<float>{});
      return;
    case DType::BF16:
      f(Type<__nv_bfloat16>{});
      return;
    case DType::F16:
      f(Type<__half>{});
      return;
    case DType::F64:
      f(Type<double>{});
      return;
    default:
      fail_linalg_dtype(op, t, "F32, F64, BF16, F16");
  }
}

// Dense algebra: F32 / F64.
template <typename F>
void dispatch_real(DType t, const char* op, F&& f) {
  switch (t) {
    case DType::F32:
      f(Type<float>{});
      return;
    case DType::F64:
      f(Type<double>{});
      return;
    default:
      fail_linalg_dtype(op, t, "F32, F64");
  }
}

// Gathers and scatters copy bits: an unsigned integer as wide as one element.
template <typename F>
void dispatch_bits(DType t, const char* op, F&& f) {
  switch (dtype_size(t)) {
    case 2:
      f(Type<uint16_t>{});
      return;
    case 4:
      f(Type<uint32_t>{});
      return;
    case 8:
      f(Type<unsigned long long>{});
      return;
    default:
      fail_linalg_dtype(op, t, "F32, F64, BF16, F16");
  }
}

int as_int(int64_t v, const char* what) {
  if (v > INT_MAX) fail_check(what);
  return int(v);
}

cudaDataType_t cuda_type(DType t) {
  switch (t) {
    case DType::F32:
      return CUDA_R_32F;
    case DType::BF16:
      return CUDA_R_16BF;
    case DType::F16:
      return CUDA_R_16F;
    default:
      fail_linalg_dtype("gram_accumulate", t, "F32, F64, BF16, F16");
  }
}

const char* byte_offset(const Tensor& t, int64_t elems) {
  return static_cast<const char*>(t.raw()) + elems * int64_t(dtype_size(t.dtype()));
}

// ---- kernels ---------------------------------------------------------------------------------

// acc[i, j] += part[i, j], i < rows, j < w; acc has row stride ld (it points at the block's column 0).
__global__ void add_f32_into_f64_kernel(double* __restrict__ acc, const float* __restrict__ part, int64_t rows,
                                        int64_t w, int64_t ld) {
  const int64_t total = rows * w, stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t e = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; e < total; e += stride) {
    const int64_t i = e / w, j = e - i * w;
    acc[i * ld + j] += double(part[e]);
  }
}

// The transpose of part's first `rows` rows into acc (ld) from row j0 on: acc[(j0 + j) * ld + i] +=
// part[i * w + j], i < rows, j < w (the mirrored half of a symmetric Gram's column block).
__global__ void add_f32_transposed_into_f64_kernel(double* __restrict__ acc, const float* __restrict__ part,
                                                   int64_t rows, int64_t w, int64_t ld, int64_t j0) {
  const int64_t total = rows * w, stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t e = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; e < total; e += stride) {
    const int64_t j = e / rows, i = e - j * rows;  // consecutive threads write consecutive acc entries
    acc[(j0 + j) * ld + i] += double(part[i * w + j]);
  }
}

// Column statistics, stage 1: block (column tile blockIdx.x, row chunk blockIdx.y); thread
// (column threadIdx.x, row lane threadIdx.y). Each thread sums rows lane, lane + kLanes, ... of its
// chunk in fp64; the lanes are folded in lane order; one partial per (chunk, column).
constexpr int kColTile = 32, kLanes = 8;

template <typename T>
__global__ void column_partials_kernel(const T* __restrict__ x, int64_t rows, int64_t n, int64_t rows_per_chunk,
                                       double* __restrict__ psum, double* __restrict__ psq) {
  __shared__ double ss[kLanes][kColTile], sq[kLanes][kColTile];
  const int64_t j = int64_t(blockIdx.x) * kColTile + threadIdx.x;
  const int64_t r0 = int64_t(blockIdx.y) * rows_per_chunk;
  const int64_t r1 = r0 + rows_per_chunk < rows ? r0 + rows_per_chunk : rows;
  double s = 0.0, q = 0.0;
  if (j < n) {
    for (int64_t r = r0 + threadIdx.y; r < r1; r += kLanes) {
      const double v = to_f64(x[r * n + j]);
      s += v;
      q += v * v;
    }
  }
  ss[threadIdx.y][threadIdx.x] = s;
  sq[threadIdx.y][threadIdx.x] = q;
  __syncthreads();
  if (threadIdx.y == 0 && j < n) {
    for (int l = 1; l < kLanes; ++l) {
      s += ss[l][threadIdx.x];
      q += sq[l][threadIdx.x];
    }
    psum[int64_t(blockIdx.y) * n + j] = s;
    psq[int64_t(blockIdx.y) * n + j] = q;
  }
}

// Stage 2: fold the chunks in chunk order and add into the accumulators (either may be null).
__global__ void column_finish_kernel(const double* __restrict__ psum, const double* __restrict__ psq, int64_t chunks,
                                     int64_t n, double* __restrict__ sum, double* __restrict__ sumsq) {
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t j = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; j < n; j += stride) {
    double s = 0.0, q = 0.0;
    for (int64_t c = 0; c < chunks; ++c) {
      s += psum[c * n + j];
      q += psq[c * n + j];
    }
    if (sum) sum[j] += s;
    if (sumsq) sumsq[j] += q;
  }
}

// All-ones bits: NaN in every float dtype; what an out-of-range gather yields (the CPU front end
// validates indices; on the GPU a slip becomes visible instead of reading out of bounds).
template <typename E>
__device__ __forceinline__ E poison_bits() {
  return E(~E(0));
}

// out[i, :] = x[idx[i], :]. x: [r, c]; out: [k, c].
template <typename E>
__global__ void gather_rows_kernel(const E* __restrict__ x, const int32_t* __restrict__ idx, E* __restrict__ out,
                                   int64_t k, int64_t c, int64_t r) {
  const int64_t total = k * c, stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t e = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; e < total; e += stride) {
    const int64_t i = e / c, j = e - i * c;
    const int64_t id = idx[i];
    out[e] = id >= 0 && id < r ? x[id * c + j] : poison_bits<E>();
  }
}

// out[:, i] = x[:, idx[i]]. x: [r, c]; out: [r, k].
template <typename E>
__global__ void gather_cols_kernel(const E* __restrict__ x, const int32_t* __restrict__ idx, E* __restrict__ out,
                                   int64_t r, int64_t c, int64_t k) {
  const int64_t total = r * k, stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t e = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; e < total; e += stride) {
    const int64_t row = e / k, i = e - row * k;
    const int64_t id = idx[i];
    out[e] = id >= 0 && id < c ? x[row * c + id] : poison_bits<E>();
  }
}

// out[r, j] = x[idx[r], idx[r / b * b + j]]: the diagonal blocks of x[idx, idx]. x: [n, n]; out: [k, b].
template <typename E>
__global__ void gather_diagonal_blocks_kernel(const E* __restrict__ x, const int32_t* __restrict__ idx,
                                              E* __restrict__ out, int64_t k, int64_t b, int64_t n) {
  const int64_t total = k * b, stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t e = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; e < total; e += stride) {
    const int64_t r = e / b, j = e - r * b;
    const int64_t row = idx[r], col = idx[r / b * b + j];
    out[e] = row >= 0 && row < n && col >= 0 && col < n ? x[row * n + col] : poison_bits<E>();
  }
}

// out[idx[i], :] = x[i, :] into a zeroed out: [rows, c]. x: [k, c]. Out-of-range entries are skipped.
template <typename E>
__global__ void scatter_rows_kernel(const E* __restrict__ x, const int32_t* __restrict__ idx, E* __restrict__ out,
                                    int64_t k, int64_t c, int64_t rows) {
  const int64_t total = k * c, stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t e = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; e < total; e += stride) {
    const int64_t i = e / c, j = e - i * c;
    const int64_t id = idx[i];
    if (id >= 0 && id < rows) out[id * c + j] = x[e];
  }
}

// out[:, idx[i]] = x[:, i] into a zeroed out: [r, cols]. x: [r, k].
template <typename E>
__global__ void scatter_cols_kernel(const E* __restrict__ x, const int32_t* __restrict__ idx, E* __restrict__ out,
                                    int64_t r, int64_t k, int64_t cols) {
  const int64_t total = r * k, stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t e = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; e < total; e += stride) {
    const int64_t row = e / k, i = e - row * k;
    const int64_t id = idx[i];
    if (id >= 0 && id < cols) out[row * cols + id] = x[e];
  }
}

// out[c, r] = x[r, c] through a 32 x 32 shared tile (coalesced reads and writes), 32 x 8 threads;
// the tile loops are grid-stride, so any shape fits the grid limits.
constexpr int kTile = 32, kTileRows = 8;

template <typename E>
__global__ void transpose_kernel(const E* __restrict__ x, E* __restrict__ out, int64_t rows, int64_t cols) {
  __shared__ E tile[kTile][kTile + 1];
  const int64_t tiles_r = (rows + kTile - 1) / kTile, tiles_c = (cols + kTile - 1) / kTile;
  for (int64_t tr = blockIdx.y; tr < tiles_r; tr += gridDim.y) {
    for (int64_t tc = blockIdx.x; tc < tiles_c; tc += gridDim.x) {
      const int64_t r0 = tr * kTile, c0 = tc * kTile;
      for (int dy = threadIdx.y; dy < kTile; dy += kTileRows) {
        const int64_t r = r0 + dy, c = c0 + threadIdx.x;
        if (r < rows && c < cols) tile[dy][threadIdx.x] = x[r * cols + c];
      }
      __syncthreads();
      for (int dy = threadIdx.y; dy < kTile; dy += kTileRows) {
        const int64_t oc = c0 + dy, orow = r0 + threadIdx.x;  // out[oc, orow] = x[orow, oc]
        if (oc < cols && orow < rows) out[oc * rows + orow] = tile[threadIdx.x][dy];
      }
      __syncthreads();  // the tile is refilled by the next iteration
    }
  }
}

// c = beta c (beta = 0: zeros, NaN in c included): the product of an empty inner dimension.
template <typename T>
__global__ void scale_kernel(T* c, int64_t total, T beta) {
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += stride)
    c[i] = beta == T(0) ? T(0) : c[i] * beta;
}

// After potrf: zero the strict upper triangle (row-major) and flag a diagonal entry that is not
// finite and positive (cuSOLVER's pivot test lets NaN through). bad must be zeroed before.
template <typename T>
__global__ void finish_factor_kernel(T* a, int64_t n, int* bad) {
  const int64_t total = n * n, stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t e = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; e < total; e += stride) {
    const int64_t i = e / n, j = e - i * n;
    if (j > i) {
      a[e] = T(0);
    } else if (j == i) {
      const T d = a[e];
      if (!(d > T(0)) || !isfinite(d)) *bad = 1;  // every writer stores the same value
    }
  }
}

// Row-major upper triangle := lower triangle (the solves round the two apart; a Gram's limbs hold
// only the lower one): a[c, r] = a[r, c] for r > c, tile by tile through shared memory so that reads
// and writes are both coalesced (kTile x kTileRows threads, grid tiles x tiles; tiles wholly above
// the diagonal return at once).
template <typename T>
__global__ void mirror_lower_kernel(T* __restrict__ a, int64_t n) {
  __shared__ T tile[kTile][kTile + 1];
  const int64_t c0 = int64_t(blockIdx.x) * kTile, r0 = int64_t(blockIdx.y) * kTile;  // a tile of the lower part
  if (c0 > r0 + kTile - 1) return;
  for (int k = int(threadIdx.y); k < kTile; k += kTileRows) {
    const int64_t r = r0 + k, c = c0 + threadIdx.x;
    if (r < n && c < n && c < r) tile[k][threadIdx.x] = a[r * n + c];
  }
  __syncthreads();
  for (int k = int(threadIdx.y); k < kTile; k += kTileRows) {
    const int64_t c = c0 + k, r = r0 + threadIdx.x;
    if (r < n && c < n && c < r) a[c * n + r] = tile[threadIdx.x][k];
  }
}

template <typename T>
void mirror_lower(cudaStream_t stream, T* a, int64_t n) {
  SP_CHECK(n <= 65535 * int64_t(kTile), "mirror_lower: {} rows exceed the grid", n);
  const unsigned tiles = unsigned((n + kTile - 1) / kTile);
  mirror_lower_kernel<T><<<dim3(tiles, tiles), dim3(kTile, kTileRows), 0, stream>>>(a, n);
  SP_CUDA_CHECK_LAUNCH();
}

template <typename T>
__global__ void add_diagonal_kernel(T* a, int64_t n, double v) {
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride)
    a[i * (n + 1)] = T(double(a[i * (n + 1)]) + v);
}

__device__ __forceinline__ double mul_rn(double a, double b) { return __dmul_rn(a, b); }
__device__ __forceinline__ float mul_rn(float a, float b) { return __fmul_rn(a, b); }
__device__ __forceinline__ double add_rn(double a, double b) { return __dadd_rn(a, b); }
__device__ __forceinline__ float add_rn(float a, float b) { return __fadd_rn(a, b); }

// y += alpha * x, the product and the sum rounded separately (the _rn intrinsics are never fused).
template <typename T>
__global__ void add_scaled_kernel(T* __restrict__ y, const T* __restrict__ x, int64_t n, T alpha) {
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride)
    y[i] = add_rn(y[i], mul_rn(alpha, x[i]));
}

template <typename T>
__global__ void diagonal_kernel(const T* __restrict__ a, T* __restrict__ out, int64_t n) {
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) out[i] = a[i * (n + 1)];
}

__global__ void divide_by_kernel(double* __restrict__ s, const double* __restrict__ d, int64_t n) {
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t j = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; j < n; j += stride) {
    const double dj = d[j];
    s[j] = dj > 0 && isfinite(dj) ? s[j] / dj : CUDART_INF;
  }
}

// d[j] -= sum_i a[i, j] b[i, j]: a thread per column, rows in order (coalesced across the threads).
// Every step is an explicit fused multiply-add, as in the CPU body: whether a compiler contracts
// `s += a * b` on its own depends on the compiler, its version and flags (nvcc does by default), so
// neither body leaves it to the compiler and both give the same bits.
__global__ void sub_column_dots_kernel(double* __restrict__ d, const double* __restrict__ a,
                                       const double* __restrict__ b, int64_t k, int64_t n) {
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t j = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; j < n; j += stride) {
    double s = 0;
    for (int64_t i = 0; i < k; ++i) s = fma(a[i * n + j], b[i * n + j], s);
    d[j] = __dsub_rn(d[j], s);
  }
}

// Device pointer arrays of the batched calls: a's block g (stacked, ld block) and y's rows g*b (ld n).
__global__ void block_pointers_kernel(double* a, double* y, int64_t block, int64_t m, double** out) {
  const int64_t g = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (g >= m) return;
  out[g] = a + g * block * block;
  out[m + g] = y + g * block;
}

// ---- cuSOLVER / cuBLAS by element type (the column-major upper triangle, see the top) --------

cusolverStatus_t potrf_buffer_size(cusolverDnHandle_t h, int n, float* a, int* lwork) {
  return cusolverDnSpotrf_bufferSize(h, CUBLAS_FILL_MODE_UPPER, n, a, n, lwork);
}
cusolverStatus_t potrf_buffer_size(cusolverDnHandle_t h, int n, double* a, int* lwork) {
  return cusolverDnDpotrf_bufferSize(h, CUBLAS_FILL_MODE_UPPER, n, a, n, lwork);
}
cusolverStatus_t potrf(cusolverDnHandle_t h, int n, float* a, float* work, int lwork, int* info) {
  return cusolverDnSpotrf(h, CUBLAS_FILL_MODE_UPPER, n, a, n, work, lwork, info);
}
cusolverStatus_t potrf(cusolverDnHandle_t h, int n, double* a, double* work, int lwork, int* info) {
  return cusolverDnDpotrf(h, CUBLAS_FILL_MODE_UPPER, n, a, n, work, lwork, info);
}
// x (column-major [m, n], ld m) := x op(U)^{-1}, U the column-major upper triangle of u (ld n).
cublasStatus_t trsm_right_upper(cublasHandle_t h, cublasOperation_t op, int m, int n, const float* u, float* x) {
  const float one = 1.f;
  return cublasStrsm(h, CUBLAS_SIDE_RIGHT, CUBLAS_FILL_MODE_UPPER, op, CUBLAS_DIAG_NON_UNIT, m, n, &one, u, n, x, m);
}
cublasStatus_t trsm_right_upper(cublasHandle_t h, cublasOperation_t op, int m, int n, const double* u, double* x) {
  const double one = 1.0;
  return cublasDtrsm(h, CUBLAS_SIDE_RIGHT, CUBLAS_FILL_MODE_UPPER, op, CUBLAS_DIAG_NON_UNIT, m, n, &one, u, n, x, m);
}

// The inverse of A = U^T U from U (column-major upper, ld) in place, in two recursive level-3 passes
// (LAPACK's trtri + lauum, blocked by halves down to kInverseBase): V = U^{-1}, then A^{-1} = V V^T
// in the upper triangle. 2 n^3 / 3 flops, almost all of them in triangular products (as general products
// over panels from kPanel columns on, trmm below) and syrk on large blocks, instead
// of the 2 n^3 of two triangular solves against the identity (cuSOLVER's potri does the same passes
// at a far lower rate). The strictly lower part of every diagonal block stays zero until that block's
// own lauum, which the recursion reaches only after its last use as a triangle.
constexpr int kInverseBase = 128;

cublasStatus_t trmm(cublasHandle_t h, cublasSideMode_t side, cublasOperation_t op, int m, int n, double alpha,
                    const double* a, int lda, double* b, int ldb, double* c, int ldc) {
  return cublasDtrmm(h, side, CUBLAS_FILL_MODE_UPPER, op, CUBLAS_DIAG_NON_UNIT, m, n, &alpha, a, lda, b, ldb, c, ldc);
}
cublasStatus_t trmm(cublasHandle_t h, cublasSideMode_t side, cublasOperation_t op, int m, int n, float alpha,
                    const float* a, int lda, float* b, int ldb, float* c, int ldc) {
  return cublasStrmm(h, side, CUBLAS_FILL_MODE_UPPER, op, CUBLAS_DIAG_NON_UNIT, m, n, &alpha, a, lda, b, ldb, c, ldc);
}
cublasStatus_t syrk_upper(cublasHandle_t h, int n, int k, const double* a, int lda, double* c, int ldc) {
  const double one = 1.0;
  return cublasDsyrk(h, CUBLAS_FILL_MODE_UPPER, CUBLAS_OP_N, n, k, &one, a, lda, &one, c, ldc);
}
cublasStatus_t syrk_upper(cublasHandle_t h, int n, int k, const float* a, int lda, float* c, int ldc) {
  const float one = 1.f;
  return cublasSsyrk(h, CUBLAS_FILL_MODE_UPPER, CUBLAS_OP_N, n, k, &one, a, lda, &one, c, ldc);
}
cublasStatus_t trsm_left_upper(cublasHandle_t h, int n, const double* u, int ldu, double* x) {
  const double one = 1.0;
  return cublasDtrsm(h, CUBLAS_SIDE_LEFT, CUBLAS_FILL_MODE_UPPER, CUBLAS_OP_N, CUBLAS_DIAG_NON_UNIT, n, n, &one, u, ldu,
                     x, n);
}
cublasStatus_t trsm_left_upper(cublasHandle_t h, int n, const float* u, int ldu, float* x) {
  const float one = 1.f;
  return cublasStrsm(h, CUBLAS_SIDE_LEFT, CUBLAS_FILL_MODE_UPPER, CUBLAS_OP_N, CUBLAS_DIAG_NON_UNIT, n, n, &one, u, ldu,
                     x, n);
}

// c = alpha op(a) op(b) + beta c, column-major; fp32 exact (pedantic), as every F32 product here.
cublasStatus_t gemm(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k, double alpha,
                    const double* a, int lda, const double* b, int ldb, double beta, double* c, int ldc) {
  return cublasDgemm(h, ta, tb, m, n, k, &alpha, a, lda, b, ldb, &beta, c, ldc);
}
cublasStatus_t gemm(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k, float alpha,
                    const float* a, int lda, const float* b, int ldb, float beta, float* c, int ldc) {
  return cublasGemmEx(h, ta, tb, m, n, k, &alpha, a, CUDA_R_32F, lda, b, CUDA_R_32F, ldb, &beta, c, CUDA_R_32F, ldc,
                      CUBLAS_COMPUTE_32F_PEDANTIC, CUBLAS_GEMM_DEFAULT);
}

// The rows x cols block at dst (ld) := src (ld src_ld), column-major.
template <typename T>
void copy_block(cudaStream_t s, T* dst, int ld, const T* src, int src_ld, int rows, int cols) {
  SP_CUDA_CHECK(cudaMemcpy2DAsync(dst, size_t(ld) * sizeof(T), src, size_t(src_ld) * sizeof(T),
                                  size_t(rows) * sizeof(T), size_t(cols), cudaMemcpyDeviceToDevice, s));
}

// In-place products with an upper-triangular u (column-major, zeros below its diagonal, as the
// factor and its inverse are kept) as general products over panels of kPanel columns or rows, each
// through `scratch` (at least kPanel x max(m, n) elements) and only over u's nonzero part: cuBLAS's
// F64 trmm runs far below its gemm rate on these shapes. A panel is written back only after the
// last product that reads its old values (the order of the panels below guarantees it).
constexpr int kPanel = 512;

// x := x u (x: m x n, ld ldx; u: n x n upper). Panels of columns right to left: column panel J of
// x u reads x's columns up to J's end only.
template <typename T>
void times_upper_right(CudaState& cs, int m, int n, const T* u, int ldu, T* x, int ldx, T* scratch) {
  for (int j1 = n; j1 > 0; j1 -= kPanel) {
    const int j0 = std::max(0, j1 - kPanel), w = j1 - j0;
    SP_CUBLAS_CHECK(
        gemm(cs.cublas, CUBLAS_OP_N, CUBLAS_OP_N, m, w, j1, T(1), x, ldx, u + size_t(j0) * ldu, ldu, T(0), scratch, m));
    copy_block(cs.stream, x + size_t(j0) * ldx, ldx, scratch, m, m, w);
  }
}

// x := alpha u x (x: m x n, ld ldx; u: m x m upper). Panels of rows top to bottom: row panel I of
// u x reads x's rows from I's start on only.
template <typename T>
void times_upper_left(CudaState& cs, int m, int n, T alpha, const T* u, int ldu, T* x, int ldx, T* scratch) {
  for (int i0 = 0; i0 < m; i0 += kPanel) {
    const int h = std::min(kPanel, m - i0);
    SP_CUBLAS_CHECK(gemm(cs.cublas, CUBLAS_OP_N, CUBLAS_OP_N, h, n, m - i0, alpha, u + size_t(i0) * ldu + i0, ldu,
                         x + i0, ldx, T(0), scratch, h));
    copy_block(cs.stream, x + i0, ldx, scratch, h, h, n);
  }
}

// x := x u^T (x: m x n, ld ldx; u: n x n upper). Panels of columns left to right: column panel J of
// x u^T reads x's columns from J's start on only.
template <typename T>
void times_upper_transpose_right(CudaState& cs, int m, int n, const T* u, int ldu, T* x, int ldx, T* scratch) {
  for (int j0 = 0; j0 < n; j0 += kPanel) {
    const int w = std::min(kPanel, n - j0);
    SP_CUBLAS_CHECK(gemm(cs.cublas, CUBLAS_OP_N, CUBLAS_OP_T, m, w, n - j0, T(1), x + size_t(j0) * ldx, ldx,
                         u + size_t(j0) * ldu + j0, ldu, T(0), scratch, m));
    copy_block(cs.stream, x + size_t(j0) * ldx, ldx, scratch, m, m, w);
  }
}

// a := U^{-1} (upper). work: kInverseBase^2 elements; panel: kPanel x (n + 1) / 2 elements.
template <typename T>
void invert_upper(CudaState& cs, T* a, int n, int ld, T* work, T* panel) {
  if (n <= kInverseBase) {  // against the identity, in the scratch block
    SP_CUDA_CHECK(cudaMemsetAsync(work, 0, size_t(n) * n * sizeof(T), cs.stream));
    add_diagonal_kernel<T><<<blocks_for(n, kThreads), kThreads, 0, cs.stream>>>(work, n, 1.0);
    SP_CUDA_CHECK_LAUNCH();
    SP_CUBLAS_CHECK(trsm_left_upper(cs.cublas, n, a, ld, work));
    copy_block(cs.stream, a, ld, work, n, n, n);
    return;
  }
  const int n1 = n / 2, n2 = n - n1;
  T* a12 = a + size_t(n1) * ld;
  T* a22 = a12 + n1;
  invert_upper(cs, a, n1, ld, work, panel);
  invert_upper(cs, a22, n2, ld, work, panel);
  // V12 = -V11 U12 V22, in place on U12.
  if (n1 >= kPanel) {
    times_upper_right(cs, n1, n2, a22, ld, a12, ld, panel);
    times_upper_left(cs, n1, n2, T(-1), a, ld, a12, ld, panel);
    return;
  }
  SP_CUBLAS_CHECK(trmm(cs.cublas, CUBLAS_SIDE_RIGHT, CUBLAS_OP_N, n1, n2, T(1), a22, ld, a12, ld, a12, ld));
  SP_CUBLAS_CHECK(trmm(cs.cublas, CUBLAS_SIDE_LEFT, CUBLAS_OP_N, n1, n2, T(-1), a, ld, a12, ld, a12, ld));
}

// Upper triangle of a := V V^T (V upper, zero below its diagonal).
template <typename T>
void upper_times_transpose(CudaState& cs, T* a, int n, int ld, T* work, T* panel) {
  if (n <= kInverseBase) {
    SP_CUBLAS_CHECK(trmm(cs.cublas, CUBLAS_SIDE_RIGHT, CUBLAS_OP_T, n, n, T(1), a, ld, a, ld, work, n));
    copy_block(cs.stream, a, ld, work, n, n, n);
    return;
  }
  const int n1 = n / 2, n2 = n - n1;
  T* a12 = a + size_t(n1) * ld;
  T* a22 = a12 + n1;
  upper_times_transpose(cs, a, n1, ld, work, panel);               // V11 V11^T
  SP_CUBLAS_CHECK(syrk_upper(cs.cublas, n1, n2, a12, ld, a, ld));  // + V12 V12^T
  if (n1 >= kPanel)                                                // V12 V22^T
    times_upper_transpose_right(cs, n1, n2, a22, ld, a12, ld, panel);
  else
    SP_CUBLAS_CHECK(trmm(cs.cublas, CUBLAS_SIDE_RIGHT, CUBLAS_OP_T, n1, n2, T(1), a22, ld, a12, ld, a12, ld));
  upper_times_transpose(cs, a22, n2, ld, work, panel);  // V22 V22^T
}

}  // namespace

// ---- statistics ------------------------------------------------------------------------------

// A Gram at least ops::kGramBlocksFrom wide is formed in this many column blocks, each only down to its
// diagonal (gram_accumulate): 9/16 of the full product's arithmetic.
constexpr int64_t kSymmetricGramBlocks = 8;

// The symmetric Gram a^T a of 16-bit or fp32 a ([T, n], n >= ops::kGramBlocksFrom), one fp32 column
// block at a time: per column block J only rows [0, end of J) are formed ((B + 1) / 2B of the full
// product's arithmetic for B blocks); on_block(part, j0, wj) takes each, part row-major
// [j0 + wj, wj] = a[:, :j0 + wj]^T a[:, J] (its rows above J are the transpose of the block's part
// left of the diagonal, so adding them mirrored gives a Gram that is exactly symmetric).
template <typename OnBlock>
void symmetric_gram_blocks(CudaState& cs, const Tensor& a, OnBlock&& on_block) {
  const int64_t n = a.dim(1);
  const int ti = as_int(a.dim(0), "gram_accumulate: rows beyond cuBLAS int range");
  const int ni = as_int(n, "gram_accumulate: columns beyond cuBLAS int range");
  const cudaDataType_t type = cuda_type(a.dtype());
  const cublasComputeType_t compute = a.dtype() == DType::F32 ? CUBLAS_COMPUTE_32F_PEDANTIC : CUBLAS_COMPUTE_32F;
  const float alpha = 1.f, beta = 0.f;
  const int64_t c = (n + kSymmetricGramBlocks - 1) / kSymmetricGramBlocks;
  Tensor part = Tensor::empty({n, c}, DType::F32, a.device());
  for (int64_t j0 = 0; j0 < n; j0 += c) {
    const int64_t wj = std::min(c, n - j0), rows = j0 + wj;
    // part^T [wj, rows] (column-major, ld wj) = a[:, J]^T a[:, :rows].
    SP_CUBLAS_CHECK(cublasGemmEx(cs.cublas, CUBLAS_OP_N, CUBLAS_OP_T, int(wj), int(rows), ti, &alpha,
                                 byte_offset(a, j0), type, ni, a.raw(), type, ni, &beta, part.raw(), CUDA_R_32F,
                                 int(wj), compute, CUBLAS_GEMM_DEFAULT));
    on_block(part, j0, wj);
  }
}

// One column block J = [j0, j0 + w) of symmetric_gram_blocks into packed lower-triangle limbs (count
// values): block entry (r, c) (column j0 + c) goes to (r, j0 + c) when r >= j0 + c, to (j0 + c, r)
// when r < j0 (the mirrored half), and nowhere inside the diagonal block above its diagonal (its
// mirror is the entry taken) -- the lower triangle gram_accumulate's F64 matrix would hold, entry
// for entry. Two kernels, so that every limb write is coalesced: the diagonal block row by row, the
// rows above it (most of the entries) transposed through shared memory.
__device__ inline void add_into_limbs(int64_t* __restrict__ acc, int64_t count, int64_t p, double v) {
  if (!exact::add(acc, count, p, v))
    atomicAdd(reinterpret_cast<unsigned long long*>(acc + exact::kLimbs * count), 1ull);
}

// Grid (ceil(w / blockDim.x), min(w, 65535)): block row y takes part rows j0 + y, j0 + y + gridDim.y, ...
__global__ void add_f32_diagonal_block_into_lower_limbs_kernel(int64_t* __restrict__ acc,
                                                               const float* __restrict__ part, int64_t w, int64_t j0,
                                                               int64_t count) {
  const int64_t c = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  for (int64_t r = j0 + blockIdx.y; r < j0 + w; r += gridDim.y)  // rows beyond the grid's 65535 loop
    if (c < w && j0 + c <= r) add_into_limbs(acc, count, r * (r + 1) / 2 + j0 + c, part[r * w + c]);
}

// Grid (ceil(w / kTile), ceil(j0 / kTile)), blocks kTile x kTileRows (the transpose's tiles): a tile of part rows r <
// j0 read along c, written along r to (j0 + c, r).
__global__ void add_f32_block_above_into_lower_limbs_kernel(int64_t* __restrict__ acc, const float* __restrict__ part,
                                                            int64_t w, int64_t j0, int64_t count) {
  __shared__ float tile[kTile][kTile + 1];
  const int64_t c0 = int64_t(blockIdx.x) * kTile, r0 = int64_t(blockIdx.y) * kTile;
  for (int k = int(threadIdx.y); k < kTile; k += kTileRows) {
    const int64_t r = r0 + k, c = c0 + threadIdx.x;
    if (r < j0 && c < w) tile[k][threadIdx.x] = part[r * w + c];
  }
  __syncthreads();
  for (int k = int(threadIdx.y); k < kTile; k += kTileRows) {
    const int64_t c = c0 + k, r = r0 + threadIdx.x, col = j0 + c;
    if (r < j0 && c < w) add_into_limbs(acc, count, col * (col + 1) / 2 + r, tile[threadIdx.x][k]);
  }
}

void add_f32_block_into_lower_limbs(cudaStream_t stream, int64_t* acc, const float* part, int64_t w, int64_t j0,
                                    int64_t count) {
  add_f32_diagonal_block_into_lower_limbs_kernel<<<dim3(blocks_for(w, kThreads), unsigned(std::min<int64_t>(w, 65535))),
                                                   kThreads, 0, stream>>>(acc, part, w, j0, count);
  SP_CUDA_CHECK_LAUNCH();
  if (j0 == 0) return;
  const dim3 grid(unsigned((w + kTile - 1) / kTile), unsigned((j0 + kTile - 1) / kTile));
  add_f32_block_above_into_lower_limbs_kernel<<<grid, dim3(kTile, kTileRows), 0, stream>>>(acc, part, w, j0, count);
  SP_CUDA_CHECK_LAUNCH();
}

void gram_accumulate(ExecContext& ctx, Tensor& acc, const Tensor& a, const Tensor& b) {
  const int64_t t = a.dim(0), n = a.dim(1), m = b.dim(1);
  if (t == 0 || n == 0 || m == 0) return;
  CudaState& cs = ctx.cuda();
  const int ti = as_int(t, "gram_accumulate: rows beyond cuBLAS int range");
  const int ni = as_int(n, "gram_accumulate: columns beyond cuBLAS int range");
  const int mi = as_int(m, "gram_accumulate: columns beyond cuBLAS int range");
  if (a.dtype() == DType::F64) {
    // F64 activations: one fp64 product straight into the accumulator (beta = 1).
    const double one = 1.0;
    SP_CUBLAS_CHECK(cublasDgemm(cs.cublas, CUBLAS_OP_N, CUBLAS_OP_T, mi, ni, ti, &one, b.data<double>(), mi,
                                a.data<double>(), ni, &one, acc.data<double>(), mi));
    return;
  }
  // One fp32-accumulated product per call into an fp32 temporary, added into the F64 accumulator.
  // The temporary holds at most ~1 GiB: a very wide acc is formed in blocks of w columns.
  constexpr int64_t kTempElems = int64_t(1) << 28;
  const cudaDataType_t type = cuda_type(a.dtype());
  const cublasComputeType_t compute = a.dtype() == DType::F32 ? CUBLAS_COMPUTE_32F_PEDANTIC : CUBLAS_COMPUTE_32F;
  const float alpha = 1.f, beta = 0.f;
  if (a.raw() == b.raw() && n == m && n >= ops::kGramBlocksFrom) {
    symmetric_gram_blocks(cs, a, [&](const Tensor& part, int64_t j0, int64_t wj) {
      const int64_t rows = j0 + wj;
      add_f32_into_f64_kernel<<<blocks_for(rows * wj, kThreads), kThreads, 0, cs.stream>>>(
          acc.data<double>() + j0, part.data<float>(), rows, wj, n);
      SP_CUDA_CHECK_LAUNCH();
      if (j0 == 0) return;
      add_f32_transposed_into_f64_kernel<<<blocks_for(j0 * wj, kThreads), kThreads, 0, cs.stream>>>(
          acc.data<double>(), part.data<float>(), j0, wj, n, j0);
      SP_CUDA_CHECK_LAUNCH();
    });
    return;
  }
  const int64_t w = std::min(m, std::max<int64_t>(1, kTempElems / n));
  Tensor part = Tensor::empty({n, w}, DType::F32, acc.device());
  for (int64_t j0 = 0; j0 < m; j0 += w) {
    const int64_t wj = std::min(w, m - j0);
    // part^T [wj, n] (column-major, ld wj) = b[:, j0:j0+wj]^T a: b's column block starts j0 elements
    // in and keeps ld m.
    SP_CUBLAS_CHECK(cublasGemmEx(cs.cublas, CUBLAS_OP_N, CUBLAS_OP_T, int(wj), ni, ti, &alpha, byte_offset(b, j0), type,
                                 mi, a.raw(), type, ni, &beta, part.raw(), CUDA_R_32F, int(wj), compute,
                                 CUBLAS_GEMM_DEFAULT));
    add_f32_into_f64_kernel<<<blocks_for(n * wj, kThreads), kThreads, 0, cs.stream>>>(acc.data<double>() + j0,
                                                                                      part.data<float>(), n, wj, m);
    SP_CUDA_CHECK_LAUNCH();
  }
}

__global__ void exact_accumulate_kernel(int64_t* __restrict__ acc, const double* __restrict__ x, int64_t n) {
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) add_into_limbs(acc, n, i, x[i]);
}

__global__ void exact_value_kernel(const int64_t* __restrict__ acc, double* __restrict__ out, int64_t n) {
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride)
    out[i] = exact::value(acc[i], acc[n + i], acc[2 * n + i]);
}

void exact_accumulate(ExecContext& ctx, Tensor& acc, const Tensor& x) {
  const int64_t n = x.numel();
  exact_accumulate_kernel<<<blocks_for(n, kThreads), kThreads, 0, stream_of(ctx)>>>(acc.data<int64_t>(),
                                                                                    x.data<double>(), n);
  SP_CUDA_CHECK_LAUNCH();
}

void exact_value(ExecContext& ctx, const Tensor& acc, Tensor& out) {
  const int64_t n = out.numel();
  exact_value_kernel<<<blocks_for(n, kThreads), kThreads, 0, stream_of(ctx)>>>(acc.data<int64_t>(), out.data<double>(),
                                                                               n);
  SP_CUDA_CHECK_LAUNCH();
}

// Entry (i, j) of x [n, n] with j <= i into packed index i (i + 1) / 2 + j of acc (count values).
__global__ void exact_accumulate_lower_kernel(int64_t* __restrict__ acc, const double* __restrict__ x, int64_t n,
                                              int64_t count) {
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t e = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; e < n * n; e += stride) {
    const int64_t i = e / n, j = e - i * n;
    if (j <= i) add_into_limbs(acc, count, i * (i + 1) / 2 + j, x[e]);
  }
}

// The lower triangle of out [n, n] from packed limbs, row by row (consecutive j, consecutive p).
__global__ void exact_value_lower_kernel(const int64_t* __restrict__ acc, double* __restrict__ out, int64_t n,
                                         int64_t count) {
  const int64_t j = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  for (int64_t i = blockIdx.y; i < n; i += gridDim.y) {  // rows beyond the grid's 65535 loop
    if (j > i) continue;
    const int64_t p = i * (i + 1) / 2 + j;
    out[i * n + j] = exact::value(acc[p], acc[count + p], acc[2 * count + p]);
  }
}

void exact_accumulate_lower(ExecContext& ctx, Tensor& acc, const Tensor& x) {
  const int64_t n = x.dim(0);
  exact_accumulate_lower_kernel<<<blocks_for(n * n, kThreads), kThreads, 0, stream_of(ctx)>>>(
      acc.data<int64_t>(), x.data<double>(), n, n * (n + 1) / 2);
  SP_CUDA_CHECK_LAUNCH();
}

void gram_exact_accumulate(ExecContext& ctx, Tensor& acc, const Tensor& a) {
  const int64_t n = a.dim(1);  // >= ops::kGramBlocksFrom, 16-bit or fp32 (the front end's choice)
  CudaState& cs = ctx.cuda();
  symmetric_gram_blocks(cs, a, [&](const Tensor& part, int64_t j0, int64_t wj) {
    add_f32_block_into_lower_limbs(cs.stream, acc.data<int64_t>(), part.data<float>(), wj, j0, n * (n + 1) / 2);
  });
}

void exact_value_symmetric(ExecContext& ctx, const Tensor& acc, Tensor& out) {
  const int64_t n = out.dim(0);
  if (n == 0) return;
  exact_value_lower_kernel<<<dim3(blocks_for(n, kThreads), unsigned(std::min<int64_t>(n, 65535))), kThreads, 0,
                             stream_of(ctx)>>>(acc.data<int64_t>(), out.data<double>(), n, n * (n + 1) / 2);
  SP_CUDA_CHECK_LAUNCH();
  mirror_lower(stream_of(ctx), out.data<double>(), n);
}

void column_stats(ExecContext& ctx, Tensor& sum, Tensor& sumsq, const Tensor& x) {
  const int64_t rows = x.dim(0), n = x.dim(1);
  if (rows == 0 || n == 0) return;
  const cudaStream_t stream = stream_of(ctx);
  // Chunks of rows so that about 1024 blocks run; the split depends only on the shape, so the
  // fixed-order fold gives the same bits on every run.
  const int64_t col_tiles = (n + kColTile - 1) / kColTile;
  const int64_t max_chunks = std::max<int64_t>(1, (rows + 63) / 64);
  int64_t chunks = std::clamp<int64_t>((1024 + col_tiles - 1) / col_tiles, 1, std::min<int64_t>(max_chunks, 1024));
  const int64_t rows_per_chunk = (rows + chunks - 1) / chunks;
  chunks = (rows + rows_per_chunk - 1) / rows_per_chunk;
  if (col_tiles > INT_MAX) fail_check("column_stats: too many columns for the grid");
  Tensor partials = Tensor::empty({2, chunks, n}, DType::F64, x.device());
  double* psum = partials.data<double>();
  double* psq = psum + chunks * n;
  dispatch_stat(x.dtype(), "column_stats", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const dim3 grid{static_cast<unsigned>(col_tiles), static_cast<unsigned>(chunks)}, block{kColTile, kLanes};
    column_partials_kernel<T><<<grid, block, 0, stream>>>(x.data<T>(), rows, n, rows_per_chunk, psum, psq);
    SP_CUDA_CHECK_LAUNCH();
  });
  column_finish_kernel<<<blocks_for(n, kThreads), kThreads, 0, stream>>>(
      psum, psq, chunks, n, sum.defined() ? sum.data<double>() : nullptr,
      sumsq.defined() ? sumsq.data<double>() : nullptr);
  SP_CUDA_CHECK_LAUNCH();
}

// ---- gathers, scatters, transpose ------------------------------------------------------------

void select_rows(ExecContext& ctx, const Tensor& x, const Tensor& idx, Tensor& out) {
  const int64_t k = idx.numel(), c = x.dim(1), r = x.dim(0);
  if (k == 0 || c == 0) return;
  dispatch_bits(x.dtype(), "select_rows", [&](auto tag) {
    using E = typename decltype(tag)::type;
    gather_rows_kernel<E><<<blocks_for(k * c, kThreads), kThreads, 0, stream_of(ctx)>>>(
        x.data<E>(), idx.data<int32_t>(), out.data<E>(), k, c, r);
    SP_CUDA_CHECK_LAUNCH();
  });
}

void select_cols(ExecContext& ctx, const Tensor& x, const Tensor& idx, Tensor& out) {
  const int64_t r = x.dim(0), c = x.dim(1), k = idx.numel();
  if (r == 0 || k == 0) return;
  dispatch_bits(x.dtype(), "select_cols", [&](auto tag) {
    using E = typename decltype(tag)::type;
    gather_cols_kernel<E><<<blocks_for(r * k, kThreads), kThreads, 0, stream_of(ctx)>>>(
        x.data<E>(), idx.data<int32_t>(), out.data<E>(), r, c, k);
    SP_CUDA_CHECK_LAUNCH();
  });
}

void select_diagonal_blocks(ExecContext& ctx, const Tensor& x, const Tensor& idx, Tensor& out) {
  const int64_t k = idx.numel(), b = out.dim(1), n = x.dim(0);
  dispatch_bits(x.dtype(), "select_diagonal_blocks", [&](auto tag) {
    using E = typename decltype(tag)::type;
    gather_diagonal_blocks_kernel<E><<<blocks_for(k * b, kThreads), kThreads, 0, stream_of(ctx)>>>(
        x.data<E>(), idx.data<int32_t>(), out.data<E>(), k, b, n);
    SP_CUDA_CHECK_LAUNCH();
  });
}

void expand_rows(ExecContext& ctx, const Tensor& x, const Tensor& idx, Tensor& out) {
  if (out.numel() == 0) return;
  SP_CUDA_CHECK(cudaMemsetAsync(out.raw(), 0, out.nbytes(), stream_of(ctx)));
  const int64_t k = idx.numel(), c = x.dim(1), rows = out.dim(0);
  if (k == 0 || c == 0) return;
  dispatch_bits(x.dtype(), "expand_rows", [&](auto tag) {
    using E = typename decltype(tag)::type;
    scatter_rows_kernel<E><<<blocks_for(k * c, kThreads), kThreads, 0, stream_of(ctx)>>>(
        x.data<E>(), idx.data<int32_t>(), out.data<E>(), k, c, rows);
    SP_CUDA_CHECK_LAUNCH();
  });
}

void expand_cols(ExecContext& ctx, const Tensor& x, const Tensor& idx, Tensor& out) {
  if (out.numel() == 0) return;
  SP_CUDA_CHECK(cudaMemsetAsync(out.raw(), 0, out.nbytes(), stream_of(ctx)));
  const int64_t r = x.dim(0), k = idx.numel(), cols = out.dim(1);
  if (r == 0 || k == 0) return;
  dispatch_bits(x.dtype(), "expand_cols", [&](auto tag) {
    using E = typename decltype(tag)::type;
    scatter_cols_kernel<E><<<blocks_for(r * k, kThreads), kThreads, 0, stream_of(ctx)>>>(
        x.data<E>(), idx.data<int32_t>(), out.data<E>(), r, k, cols);
    SP_CUDA_CHECK_LAUNCH();
  });
}

void transpose(ExecContext& ctx, const Tensor& x, Tensor& out) {
  const int64_t rows = x.dim(0), cols = x.dim(1);
  if (rows == 0 || cols == 0) return;
  const int64_t tiles_r = (rows + kTile - 1) / kTile, tiles_c = (cols + kTile - 1) / kTile;
  const dim3 grid{static_cast<unsigned>(std::min<int64_t>(tiles_c, 65535)),
                  static_cast<unsigned>(std::min<int64_t>(tiles_r, 65535))};
  const dim3 block{kTile, kTileRows};
  dispatch_bits(x.dtype(), "transpose", [&](auto tag) {
    using E = typename decltype(tag)::type;
    transpose_kernel<E><<<grid, block, 0, stream_of(ctx)>>>(x.data<E>(), out.data<E>(), rows, cols);
    SP_CUDA_CHECK_LAUNCH();
  });
}

// ---- dense algebra ---------------------------------------------------------------------------

void gemm(ExecContext& ctx, Tensor& c, const Tensor& a, bool trans_a, const Tensor& b, bool trans_b, double alpha,
          double beta) {
  const int64_t m = c.dim(0), n = c.dim(1), k = trans_a ? a.dim(0) : a.dim(1);
  if (m == 0 || n == 0) return;
  CudaState& cs = ctx.cuda();
  if (k == 0) {
    dispatch_real(c.dtype(), "gemm", [&](auto tag) {
      using T = typename decltype(tag)::type;
      scale_kernel<T><<<blocks_for(m * n, kThreads), kThreads, 0, cs.stream>>>(c.data<T>(), m * n, T(beta));
      SP_CUDA_CHECK_LAUNCH();
    });
    return;
  }
  const int mi = as_int(m, "gemm: dims beyond cuBLAS int range"), ni = as_int(n, "gemm: dims beyond cuBLAS int range");
  const int ki = as_int(k, "gemm: dims beyond cuBLAS int range");
  // c^T [n, m] = op(b)^T [n, k] op(a)^T [k, m], column-major; lda / ldb are the row lengths of b / a.
  const cublasOperation_t op_b = trans_b ? CUBLAS_OP_T : CUBLAS_OP_N, op_a = trans_a ? CUBLAS_OP_T : CUBLAS_OP_N;
  const int ldb = as_int(b.dim(1), "gemm: dims beyond cuBLAS int range");
  const int lda = as_int(a.dim(1), "gemm: dims beyond cuBLAS int range");
  if (c.dtype() == DType::F64) {
    SP_CUBLAS_CHECK(cublasDgemm(cs.cublas, op_b, op_a, ni, mi, ki, &alpha, b.data<double>(), ldb, a.data<double>(), lda,
                                &beta, c.data<double>(), ni));
  } else if (c.dtype() == DType::F32) {
    const float al = float(alpha), be = float(beta);
    SP_CUBLAS_CHECK(cublasGemmEx(cs.cublas, op_b, op_a, ni, mi, ki, &al, b.raw(), CUDA_R_32F, ldb, a.raw(), CUDA_R_32F,
                                 lda, &be, c.raw(), CUDA_R_32F, ni, CUBLAS_COMPUTE_32F_PEDANTIC, CUBLAS_GEMM_DEFAULT));
  } else {
    fail_linalg_dtype("gemm", c.dtype(), "F32, F64");
  }
}

// failures[0] += 1 when the factorisation's status (potrf's devInfo, the diagonal check) is bad.
__global__ void count_failure_kernel(const int* status, int* failures) {
  if (status[0] != 0 || status[1] != 0) failures[0] += 1;
}

bool cholesky(ExecContext& ctx, Tensor& a, Tensor* failures) {
  const int64_t n = a.dim(0);
  if (n == 0) return true;
  const int ni = as_int(n, "cholesky: n beyond cuSOLVER int range");
  CudaState& cs = ctx.cuda();
  // status[0]: potrf's devInfo; status[1]: the diagonal check.
  Tensor status = Tensor::empty({2}, DType::I32, a.device());
  int* st = status.data<int>();
  SP_CUDA_CHECK(cudaMemsetAsync(st, 0, 2 * sizeof(int), cs.stream));
  dispatch_real(a.dtype(), "cholesky", [&](auto tag) {
    using T = typename decltype(tag)::type;
    T* p = a.data<T>();
    int lwork = 0;
    SP_CUSOLVER_CHECK(potrf_buffer_size(cs.cusolver, ni, p, &lwork));
    Tensor work = Tensor::empty({std::max(lwork, 1)}, a.dtype(), a.device());
    SP_CUSOLVER_CHECK(potrf(cs.cusolver, ni, p, work.data<T>(), lwork, st));
    finish_factor_kernel<T><<<blocks_for(n * n, kThreads), kThreads, 0, cs.stream>>>(p, n, st + 1);
    SP_CUDA_CHECK_LAUNCH();
  });
  if (failures) {  // counted on the device: no wait
    count_failure_kernel<<<1, 1, 0, cs.stream>>>(st, failures->data<int>());
    SP_CUDA_CHECK_LAUNCH();
    return true;
  }
  const Tensor host = status.to(Device::cpu());  // waits for the stream
  const int info = host.data<int>()[0], bad = host.data<int>()[1];
  if (info < 0) fail_check("cholesky: potrf rejected a parameter");
  return info == 0 && bad == 0;
}

void cholesky_solve(ExecContext& ctx, const Tensor& l, const Tensor& b, Tensor& x) {
  const int64_t n = l.dim(0), m = b.dim(1);
  if (n == 0 || m == 0) return;
  CudaState& cs = ctx.cuda();
  const int ni = as_int(n, "cholesky_solve: dims beyond cuBLAS int range");
  const int mi = as_int(m, "cholesky_solve: dims beyond cuBLAS int range");
  SP_CUDA_CHECK(cudaMemcpyAsync(x.raw(), b.raw(), b.nbytes(), cudaMemcpyDeviceToDevice, cs.stream));
  dispatch_real(l.dtype(), "cholesky_solve", [&](auto tag) {
    using T = typename decltype(tag)::type;
    // x^T U^T U = b^T: first z U = b^T (z = x^T U^T), then x^T U^T = z; in place on x^T.
    SP_CUBLAS_CHECK(trsm_right_upper(cs.cublas, CUBLAS_OP_N, mi, ni, l.data<T>(), x.data<T>()));
    SP_CUBLAS_CHECK(trsm_right_upper(cs.cublas, CUBLAS_OP_T, mi, ni, l.data<T>(), x.data<T>()));
  });
}

void cholesky_inverse(ExecContext& ctx, const Tensor& l, Tensor& out, int64_t recursive_from) {
  const int64_t n = l.dim(0);
  if (n == 0) return;
  CudaState& cs = ctx.cuda();
  const int ni = as_int(n, "cholesky_inverse: n beyond cuBLAS int range");
  if (n < recursive_from) {  // the identity solved in place: A^{-1} = U^{-1} U^{-T}, then mirrored
    if (out.raw() == l.raw()) fail_check("cholesky_inverse: in place only from the recursive width on");
    SP_CUDA_CHECK(cudaMemsetAsync(out.raw(), 0, out.nbytes(), cs.stream));
    dispatch_real(l.dtype(), "cholesky_inverse", [&](auto tag) {
      using T = typename decltype(tag)::type;
      T* p = out.data<T>();
      add_diagonal_kernel<T><<<blocks_for(n, kThreads), kThreads, 0, cs.stream>>>(p, ni, 1.0);
      SP_CUDA_CHECK_LAUNCH();
      SP_CUBLAS_CHECK(trsm_right_upper(cs.cublas, CUBLAS_OP_N, ni, ni, l.data<T>(), p));
      SP_CUBLAS_CHECK(trsm_right_upper(cs.cublas, CUBLAS_OP_T, ni, ni, l.data<T>(), p));
      mirror_lower(cs.stream, p, n);
    });
    return;
  }
  // U = L^T is l's column-major upper triangle (zeros below it, as cholesky_ leaves them); inverted in
  // place on a copy (or on l itself when out is l), then the column-major upper triangle of A^{-1}
  // (row-major lower) is mirrored.
  if (out.raw() != l.raw())
    SP_CUDA_CHECK(cudaMemcpyAsync(out.raw(), l.raw(), l.nbytes(), cudaMemcpyDeviceToDevice, cs.stream));
  dispatch_real(l.dtype(), "cholesky_inverse", [&](auto tag) {
    using T = typename decltype(tag)::type;
    T* p = out.data<T>();
    Tensor work = Tensor::empty({int64_t(kInverseBase) * kInverseBase}, l.dtype(), l.device());
    Tensor panel = Tensor::empty({int64_t(kPanel) * ((n + 1) / 2)}, l.dtype(), l.device());
    invert_upper(cs, p, ni, ni, work.data<T>(), panel.data<T>());
    upper_times_transpose(cs, p, ni, ni, work.data<T>(), panel.data<T>());
    // Exactly symmetric, as the CPU body: the lower triangle is mirrored into the upper one.
    mirror_lower(cs.stream, p, n);
  });
}

void divide_by(ExecContext& ctx, Tensor& s, const Tensor& d) {
  const int64_t n = s.numel();
  divide_by_kernel<<<blocks_for(n, kThreads), kThreads, 0, stream_of(ctx)>>>(s.data<double>(), d.data<double>(), n);
  SP_CUDA_CHECK_LAUNCH();
}

void sub_column_dots(ExecContext& ctx, Tensor& d, const Tensor& a, const Tensor& b) {
  const int64_t k = a.dim(0), n = a.dim(1);
  sub_column_dots_kernel<<<blocks_for(n, kThreads), kThreads, 0, stream_of(ctx)>>>(d.data<double>(), a.data<double>(),
                                                                                   b.data<double>(), k, n);
  SP_CUDA_CHECK_LAUNCH();
}

void copy(ExecContext& ctx, Tensor& dst, const Tensor& src) {
  SP_CUDA_CHECK(cudaMemcpyAsync(dst.raw(), src.raw(), src.nbytes(), cudaMemcpyDeviceToDevice, stream_of(ctx)));
}

// Row-major a [m b, b] (stacked blocks) read column-major is a^T: block g, at a + g b^2 with ld b, is
// itself (symmetric); row-major w [rows, n] read column-major is W^T [n, rows] (ld n), whose rows g*b..
// are W_g^T. LOWER: A_g = L L^T in the column-major lower triangle; y_g := L^{-1} W_g^T, and
// tr(A_g^{-1} W_g^T W_g) = ||y_g||^2, the column sums of squares of y over block g.
void block_saliencies(ExecContext& ctx, Tensor& a, const Tensor& w, int64_t block, std::vector<double>& out) {
  const int64_t n = a.dim(0), rows = w.dim(0), m = int64_t(out.size());
  CudaState& cs = ctx.cuda();
  const int bi = as_int(block, "block_saliencies: dims beyond cuSOLVER int range");
  const int ni = as_int(n, "block_saliencies: dims beyond cuSOLVER int range");
  const int ri = as_int(rows, "block_saliencies: dims beyond cuBLAS int range");
  const int mi = as_int(m, "block_saliencies: dims beyond cuSOLVER int range");
  Tensor y = w.clone();  // solved in place
  Tensor info = Tensor::zeros({m}, DType::I32, a.device());
  double* pa = a.data<double>();
  double* py = y.data<double>();
  const double one = 1.0;
  // Small blocks (attention heads, KV groups of up to 2 heads of 128) in one batched call each;
  // larger ones one factorisation at a time, still without waiting for the stream.
  constexpr int64_t kBatchedBlock = 256;
  if (block <= kBatchedBlock) {
    Tensor ptrs = Tensor::empty({2 * m}, DType::I64, a.device());
    double** dp = reinterpret_cast<double**>(ptrs.raw());
    block_pointers_kernel<<<blocks_for(m, kThreads), kThreads, 0, cs.stream>>>(pa, py, block, m, dp);
    SP_CUDA_CHECK_LAUNCH();
    SP_CUSOLVER_CHECK(cusolverDnDpotrfBatched(cs.cusolver, CUBLAS_FILL_MODE_LOWER, bi, dp, bi, info.data<int>(), mi));
    SP_CUBLAS_CHECK(cublasDtrsmBatched(cs.cublas, CUBLAS_SIDE_LEFT, CUBLAS_FILL_MODE_LOWER, CUBLAS_OP_N,
                                       CUBLAS_DIAG_NON_UNIT, bi, ri, &one, dp, bi, dp + m, ni, mi));
  } else {
    int lwork = 0;
    SP_CUSOLVER_CHECK(cusolverDnDpotrf_bufferSize(cs.cusolver, CUBLAS_FILL_MODE_LOWER, bi, pa, bi, &lwork));
    Tensor work = Tensor::empty({std::max(lwork, 1)}, DType::F64, a.device());
    for (int64_t g = 0; g < m; ++g) {
      double* ag = pa + g * block * block;
      SP_CUSOLVER_CHECK(cusolverDnDpotrf(cs.cusolver, CUBLAS_FILL_MODE_LOWER, bi, ag, bi, work.data<double>(), lwork,
                                         info.data<int>() + g));
      SP_CUBLAS_CHECK(cublasDtrsm(cs.cublas, CUBLAS_SIDE_LEFT, CUBLAS_FILL_MODE_LOWER, CUBLAS_OP_N,
                                  CUBLAS_DIAG_NON_UNIT, bi, ri, &one, ag, bi, py + g * block, ni));
    }
  }
  Tensor none, sq = Tensor::zeros({n}, DType::F64, a.device());
  column_stats(ctx, none, sq, y);
  const auto cols = sq.to_f64_vector();
  const Tensor status = info.to(Device::cpu());
  for (int64_t g = 0; g < m; ++g) {
    double s = 0;
    for (int64_t j = g * block; j < (g + 1) * block; ++j) s += cols[size_t(j)];
    out[size_t(g)] = status.data<int>()[g] == 0 && std::isfinite(s) ? s : std::numeric_limits<double>::infinity();
  }
}

void add_diagonal(ExecContext& ctx, Tensor& a, double v) {
  const int64_t n = a.dim(0);
  if (n == 0) return;
  dispatch_real(a.dtype(), "add_diagonal", [&](auto tag) {
    using T = typename decltype(tag)::type;
    add_diagonal_kernel<T><<<blocks_for(n, kThreads), kThreads, 0, stream_of(ctx)>>>(a.data<T>(), n, v);
    SP_CUDA_CHECK_LAUNCH();
  });
}

void add_scaled(ExecContext& ctx, Tensor& y, double alpha, const Tensor& x) {
  const int64_t n = y.numel();
  dispatch_real(y.dtype(), "add_scaled", [&](auto tag) {
    using T = typename decltype(tag)::type;
    add_scaled_kernel<T>
        <<<blocks_for(n, kThreads), kThreads, 0, stream_of(ctx)>>>(y.data<T>(), x.data<T>(), n, T(alpha));
    SP_CUDA_CHECK_LAUNCH();
  });
}

void diagonal(ExecContext& ctx, const Tensor& a, Tensor& out) {
  const int64_t n = a.dim(0);
  if (n == 0) return;
  dispatch_real(a.dtype(), "diagonal", [&](auto tag) {
    using T = typename decltype(tag)::type;
    diagonal_kernel<T><<<blocks_for(n, kThreads), kThreads, 0, stream_of(ctx)>>>(a.data<T>(), out.data<T>(), n);
    SP_CUDA_CHECK_LAUNCH();
  });
}

}  // namespace sp::cuda
