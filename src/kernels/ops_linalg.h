#pragma once
// Op front ends for pruning: calibration statistics, index selection, dense linear algebra.
// Same rules as kernels/ops.h (one front end, a CPU body as the oracle, a CUDA body tested against
// it); the pruning code (src/prune) calls only these and never a device API.
//
// dtypes: statistics accumulate in F64 from compute-dtype activations (F32; BF16 / F16 on CUDA)
// or from F64 ones (either device).
// The dense linear algebra (gemm_, matmul, cholesky_*, diagonal ops) takes F32 or F64 operands on
// either device (all operands of one call share the dtype); F32 products are exact fp32 (no TF32).
// Index tensors are I32 on the op's device. Matrices are row-major 2-D tensors (core/tensor.h).
#include <vector>

#include "core/context.h"
#include "core/tensor.h"

namespace sp::ops {

// acc += a^T b: a Gram (b is a) or cross-Gram matrix of activations, summed over the T rows. The
// product of one call is formed with fp32 accumulation, then added into the F64 accumulator, so a
// long stream of calls loses nothing to fp32 rounding beyond one call's partial sums (F64 a, b:
// the product is formed in fp64). The fp32 product is formed in blocks of acc's columns through a
// temporary of at most 1 GiB on CUDA (16 MiB on the CPU), so n up to ~30k needs no more memory.
//   a: [T, n], b: [T, m], compute dtype or F64 (same dtype); acc: [n, m] F64, sharing no memory
//   with a or b.
void gram_accumulate_(ExecContext& ctx, Tensor& acc, const Tensor& a, const Tensor& b);

// Per-column sum and sum of squares over the rows, accumulated into F64:
//   sum[j] += sum_t x[t, j];  sumsq[j] += sum_t x[t, j]^2.
// x: [T, n] compute dtype or F64; sum, sumsq: [n] F64 (either may be undefined: not computed).
// Fixed-order reductions: the same inputs give the same bits on every run.
void column_stats_(ExecContext& ctx, Tensor& sum, Tensor& sumsq, const Tensor& x);

// Exact, order-independent sums of F64 values (kernels/exact_sum.h): acc holds integer limbs
// that any number of ranks can add with an integer allreduce and get the same bits.
//   exact_zeros(n): a fresh accumulator for n values: I64 [3 n + 1] (the last entry counts values
//   that could not be added: non-finite or |v| >= 2^59).
//   exact_accumulate_: acc += x (x: F64, any shape, n elements, on acc's device).
//   exact_value: the sums as F64 with the given shape (n elements); an InputError naming `what`
//   when a value could not be added.
Tensor exact_zeros(ExecContext& ctx, int64_t n);
void exact_accumulate_(ExecContext& ctx, Tensor& acc, const Tensor& x);
Tensor exact_value(ExecContext& ctx, const Tensor& acc, const Shape& shape, std::string_view what);
// The same for a symmetric [n, n] matrix kept as its lower triangle, packed by rows (entry (i, j),
// j <= i, at i (i + 1) / 2 + j): acc = exact_zeros(n (n + 1) / 2), half the limbs of the full one.
//   exact_accumulate_lower_: acc += the lower triangle of x ([n, n] F64; its upper one is not read).
//   gram_exact_accumulate_: acc += a^T a (a: [T, n] compute dtype) exactly as gram_accumulate_ into
//   zeros and then exact_accumulate_lower_ would add it; on CUDA, for 16-bit or fp32 a at least
//   kGramBlocksFrom wide, without the [n, n] F64 matrix: each fp32 column block (gram_accumulate_'s
//   symmetric blocks) goes into the limbs as it is formed (bit for bit the same limbs).
//   exact_value_symmetric: the sums as [n, n] F64, both triangles from the lower one.
void exact_accumulate_lower_(ExecContext& ctx, Tensor& acc, const Tensor& x);
void gram_exact_accumulate_(ExecContext& ctx, Tensor& acc, const Tensor& a);
Tensor exact_value_symmetric(ExecContext& ctx, const Tensor& acc, int64_t n, std::string_view what);
// From this width on a Gram is formed in column blocks, each only down to its diagonal.
inline constexpr int64_t kGramBlocksFrom = 128;
// Values in a packed lower triangle of an n x n matrix.
inline int64_t lower_count(int64_t n) { return n * (n + 1) / 2; }

// Gathers: out = x[idx, :] and out = x[:, idx]. x: [R, C] any float dtype (F32, F64, BF16, F16);
// idx: [k] I32 on the op's device, every entry in range (checked on the CPU; an out-of-range index
// is an InputError there, undefined on the GPU: the CUDA bodies then write a NaN element rather
// than read out of bounds). Entries may repeat. -> [k, C] / [R, k], dtype of x.
Tensor select_rows(ExecContext& ctx, const Tensor& x, const Tensor& idx);
Tensor select_cols(ExecContext& ctx, const Tensor& x, const Tensor& idx);
// x[rows, cols]: both gathers at once, through temporaries of at most kGatherChunk elements (a few
// hundred rows of a wide x) instead of an [|rows|, C] or [R, |cols|] intermediate.
inline constexpr int64_t kGatherChunk = int64_t(1) << 22;
Tensor select_block(ExecContext& ctx, const Tensor& x, const Tensor& rows, const Tensor& cols);
// a := a[idx, idx] in place for a square a: [n, n] -> [k, k], k = |idx|, the result in the first k^2
// elements of a's buffer (no second matrix). idx ascending and distinct (the caller's contract: a
// chunk of rows is written only below the rows still to be read).
void select_square_(ExecContext& ctx, Tensor& a, const Tensor& idx);
// The diagonal blocks of x[idx, idx] for runs of b indices, stacked: out[g b + i, j] =
// x[idx[g b + i], idx[g b + j]] (block g is rows g b .. g b + b - 1), without the off-diagonal blocks.
// x: [n, n] any float dtype; idx: [k] I32, k a multiple of b, entries in range (as the gathers
// above) -> [k, b].
Tensor select_diagonal_blocks(ExecContext& ctx, const Tensor& x, const Tensor& idx, int64_t b);

// Scatters into zeros, the inverse of the gathers: out = zeros [rows, C], out[idx[i], :] = x[i, :]
// (and out = zeros [R, cols], out[:, idx[i]] = x[:, i]). Entries of idx are distinct and in range
// (both checked on the CPU; on the GPU an out-of-range entry is dropped).
Tensor expand_rows(ExecContext& ctx, const Tensor& x, const Tensor& idx, int64_t rows);
Tensor expand_cols(ExecContext& ctx, const Tensor& x, const Tensor& idx, int64_t cols);

// c = alpha op(a) op(b) + beta c, op(m) = m^T when its flag is set. F32 or F64, c preallocated
// with the product's shape (beta = 0: c's old values are ignored, NaN included).
void gemm_(ExecContext& ctx, Tensor& c, const Tensor& a, bool trans_a, const Tensor& b, bool trans_b, double alpha,
           double beta);
// op(a) op(b) as a new tensor (F32 or F64).
Tensor matmul(ExecContext& ctx, const Tensor& a, bool trans_a, const Tensor& b, bool trans_b);
// x^T as a new contiguous tensor. x: [R, C] any float dtype -> [C, R].
Tensor transpose(ExecContext& ctx, const Tensor& x);

// In-place Cholesky factorisation of a symmetric positive definite matrix a: [n, n], F32 / F64
// (only its lower triangle is read). On success a holds L (a = L L^T) in its lower triangle and
// zeros above it, and the call returns true; when a is not numerically positive definite it
// returns false and a's contents are unspecified (the caller keeps its own copy to retry with more
// damping). A factor whose diagonal is not finite and positive (NaN input) also returns false. The
// CUDA body reads one status word back to the host: it waits for the stream.
// With `failures` (I32 [1] on a's device) nothing waits: a failure adds 1 to failures[0] and the
// call returns true; for loops whose factorisations must all succeed, checked once at the end.
bool cholesky_(ExecContext& ctx, Tensor& a, Tensor* failures = nullptr);
// Solves (L L^T) x = b with L from cholesky_ (only l's lower triangle is read; a zero on its
// diagonal gives inf / NaN, unchecked). l: [n, n]; b: [n, m] -> x [n, m].
Tensor cholesky_solve(ExecContext& ctx, const Tensor& l, const Tensor& b);
// (L L^T)^{-1}, full (both triangles, exactly symmetric), from L (lower triangle read, as above).
// l: [n, n] -> [n, n].
Tensor cholesky_inverse(ExecContext& ctx, const Tensor& l);
// The same into l's own memory where the body allows (CUDA from kRecursiveInverseFrom columns on:
// no second [n, n] matrix); the same bits as cholesky_inverse.
void cholesky_inverse_(ExecContext& ctx, Tensor& l);

// Single-column OBS saliencies: out[j] = sum_i w[i, j]^2 / d[j] (d: the diagonal of H^-1), +inf where
// d[j] is not finite and positive. w: [out, n], d: [n], both F64 -> [n] F64 on ctx's device (no host
// round trip).
Tensor column_saliencies(ExecContext& ctx, const Tensor& w, const Tensor& d);
// d[j] -= sum_i a[i, j] b[i, j]: the diagonal of a^T b taken off d (a low-rank update of a matrix
// whose diagonal d is). a, b: [k, n] F64; d: [n] F64, sharing no memory with a or b.
void sub_column_dots_(ExecContext& ctx, Tensor& d, const Tensor& a, const Tensor& b);
// dst = src, elementwise (same dtype and element count, any shapes), queued on ctx's stream: no wait
// (Tensor::copy_from waits). dst and src share no memory.
void copy_(ExecContext& ctx, Tensor& dst, const Tensor& src);

// The OBS greedy's choice on the device (no host round trip per step). Among the groups g with
// live[g] != 0, the picked.numel() with the smallest cost[at[g]], cheapest first and ties by g (the
// order std::partial_sort gives with that comparison; a cost of -0 counts as +0). Writes their ids to
// picked and their costs to picked_cost, and clears their live flags. cost: [m] F64; at: [G] I32 (a
// group's position in cost, read only where live); live: [G] I32; picked: [k] I32, picked_cost: [k]
// F64, k at most the live count (checked on the CPU; the CUDA body would pick dead groups).
void pick_cheapest_(ExecContext& ctx, const Tensor& cost, const Tensor& at, Tensor& live, Tensor& picked,
                    Tensor& picked_cost);
// The columns of the picked groups at their current positions, ascending: pos[members[g * b + j]]
// for each g in picked and j < b. picked: [k] I32; members: [G * b] I32 (group g's columns);
// pos: [n] I32 (distinct for the picked groups' columns) -> [k * b] I32.
Tensor group_columns(ExecContext& ctx, const Tensor& picked, const Tensor& members, const Tensor& pos, int64_t b);

// Structured OBS saliencies of m column blocks of one size b at once (prune/obs.h): for each g,
//   out[g] = tr( A_g^{-1} W_g^T W_g ),  A_g = a[gb : (g+1)b, :],  W_g = w[:, gb : (g+1)b],
// from one batched Cholesky factorisation of the blocks (only their lower triangles are read; a's
// contents are unspecified afterwards). +inf where a block is not numerically positive definite or
// the value is not finite. a: [m b, b] (the diagonal blocks of a matrix, stacked:
// select_diagonal_blocks), w: [out, m b], both F64. The m values come back to the host (the CUDA
// body waits for the stream once).
std::vector<double> block_saliencies(ExecContext& ctx, Tensor& a, const Tensor& w, int64_t block);

// a[i, i] += v for every i. a: [n, n] F32 / F64.
void add_diagonal_(ExecContext& ctx, Tensor& a, double v);
// y += alpha * x with the product rounded to the dtype before the sum (never a fused multiply-add):
// bit for bit what a GEMM y += x (alpha I) gives, without the identity. y, x: same shape, F32 / F64.
void add_scaled_(ExecContext& ctx, Tensor& y, double alpha, const Tensor& x);
// The diagonal of a: [n, n] F32 / F64 -> [n], same dtype.
Tensor diagonal(ExecContext& ctx, const Tensor& a);

// Number of threads the CPU bodies (Eigen) may use; n <= 0: every core. Process-wide; set once by
// the command line before any compute. Eigen's products run threaded only through OpenMP (linked
// into the kernels library when CMake finds it); until this is called they use OpenMP's default
// (OMP_NUM_THREADS, else every core), so several ranks on one machine should each be given a share.
void set_cpu_threads(int n);

}  // namespace sp::ops
