// Per-row reductions over logits: token NLL (log-softmax at the target), KL divergence, argmax.
// One block per row; a single pass with an online max / rescaled sum in fp32.
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/cuda_ops.h"

namespace sp::cuda {
namespace {

constexpr int kThreads = 512;

// One row's log-sum-exp, every thread of the block taking part (online max / rescaled sum).
template <typename T>
__device__ float row_lse(const T* __restrict__ row, int64_t vocab, float* scratch) {
  float m = -INFINITY, s = 0.f;
  for (int64_t i = threadIdx.x; i < vocab; i += blockDim.x) {
    const float v = to_f32(row[i]);
    if (v > m) {
      s = s * expf(m - v) + 1.f;
      m = v;
    } else {
      s += expf(v - m);
    }
  }
  const float gm = block_max(m, scratch);
  const float local = m == -INFINITY ? 0.f : s * expf(m - gm);
  return logf(block_sum(local, scratch)) + gm;
}

template <typename T>
__global__ void token_nll_kernel(const T* __restrict__ logits, const int32_t* __restrict__ targets,
                                 float* __restrict__ out, int64_t vocab) {
  __shared__ float scratch[32];
  const T* row = logits + int64_t(blockIdx.x) * vocab;
  const float lse = row_lse(row, vocab, scratch);
  if (threadIdx.x == 0) {
    const int32_t t = targets[blockIdx.x];
    out[blockIdx.x] = (t < 0 || t >= vocab) ? NAN : lse - to_f32(row[t]);
  }
}

// KL(softmax(p) || softmax(q)) = sum_i p_i (a_i - b_i) - lse(a) + lse(b), one block per row.
template <typename T>
__global__ void kl_div_kernel(const T* __restrict__ p, const T* __restrict__ q, float* __restrict__ out,
                              int64_t vocab) {
  __shared__ float scratch[32];
  const T* a = p + int64_t(blockIdx.x) * vocab;
  const T* b = q + int64_t(blockIdx.x) * vocab;
  const float la = row_lse(a, vocab, scratch), lb = row_lse(b, vocab, scratch);
  float acc = 0.f;
  for (int64_t i = threadIdx.x; i < vocab; i += blockDim.x) {
    const float va = to_f32(a[i]);
    acc += expf(va - la) * (va - to_f32(b[i]));
  }
  const float total = block_sum(acc, scratch);
  if (threadIdx.x == 0) out[blockIdx.x] = total - la + lb;
}

// Warp-wide arg-max: the larger value wins, then the lower index on equal values.
__device__ __forceinline__ void warp_argmax(float& best, int64_t& idx) {
  for (int o = 16; o > 0; o >>= 1) {
    const float v2 = __shfl_xor_sync(0xffffffffu, best, o);
    const int64_t i2 = __shfl_xor_sync(0xffffffffu, idx, o);
    if (v2 > best || (v2 == best && i2 < idx)) {
      best = v2;
      idx = i2;
    }
  }
}

template <typename T>
__global__ void argmax_kernel(const T* __restrict__ logits, int32_t* __restrict__ out, int64_t vocab) {
  __shared__ float sval[32];
  __shared__ int64_t sidx[32];
  const T* row = logits + int64_t(blockIdx.x) * vocab;
  float best = -INFINITY;
  int64_t idx = vocab;  // "none yet": loses every tie
  for (int64_t i = threadIdx.x; i < vocab; i += blockDim.x) {
    const float v = to_f32(row[i]);
    if (v > best || (idx == vocab && !(v < best))) {  // strided walk: first hit per thread has the lowest index
      best = v;
      idx = i;
    }
  }
  warp_argmax(best, idx);
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nw = blockDim.x >> 5;
  if (lane == 0) {
    sval[warp] = best;
    sidx[warp] = idx;
  }
  __syncthreads();
  if (warp == 0) {
    best = lane < nw ? sval[lane] : -INFINITY;
    idx = lane < nw ? sidx[lane] : vocab;
    warp_argmax(best, idx);
    if (lane == 0) out[blockIdx.x] = int32_t(idx == vocab ? 0 : idx);
  }
}

}  // namespace

void token_nll(ExecContext& ctx, const Tensor& logits, const Tensor& targets, Tensor& out) {
  const int64_t rows = logits.dim(0), vocab = logits.dim(1);
  if (rows == 0) return;
  dispatch_float(logits.dtype(), "token_nll", [&](auto tag) {
    using T = typename decltype(tag)::type;
    token_nll_kernel<T><<<unsigned(rows), kThreads, 0, stream_of(ctx)>>>(logits.data<T>(), targets.data<int32_t>(),
                                                                         out.data<float>(), vocab);
    SP_CUDA_CHECK_LAUNCH();
  });
}

void kl_div_rows(ExecContext& ctx, const Tensor& p, const Tensor& q, Tensor& out) {
  const int64_t rows = p.dim(0), vocab = p.dim(1);
  if (rows == 0) return;
  dispatch_float(p.dtype(), "kl_div_rows", [&](auto tag) {
    using T = typename decltype(tag)::type;
    kl_div_kernel<T>
        <<<unsigned(rows), kThreads, 0, stream_of(ctx)>>>(p.data<T>(), q.data<T>(), out.data<float>(), vocab);
    SP_CUDA_CHECK_LAUNCH();
  });
}

void argmax_rows(ExecContext& ctx, const Tensor& logits, Tensor& out) {
  const int64_t rows = logits.dim(0), vocab = logits.dim(1);
  if (rows == 0) return;
  dispatch_float(logits.dtype(), "argmax_rows", [&](auto tag) {
    using T = typename decltype(tag)::type;
    argmax_kernel<T><<<unsigned(rows), kThreads, 0, stream_of(ctx)>>>(logits.data<T>(), out.data<int32_t>(), vocab);
    SP_CUDA_CHECK_LAUNCH();
  });
}

}  // namespace sp::cuda
