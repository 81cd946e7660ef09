#pragma once
// Flash-style causal GQA attention on the tensor cores for bf16 / f16 (head_dim a multiple of 16),
// fp32 accumulation and online softmax in fp32 (FlashAttention-2 scheme with mma.sync m16n8k16).
//
// A block of 4 warps handles 64 queries of one (window, head); each warp owns 16 query rows.
// K/V tiles of 64 keys stream through shared memory in two stages (cp.async: the next tile loads
// while this one is multiplied; rows padded by 16 bytes so ldmatrix is conflict-free). S = Q K^T
// lands in registers in the mma C layout, which is also the A layout of the next product, so
// P = exp(S - m) feeds O += P V without leaving registers (V fragments via ldmatrix.trans). Each
// lane holds rows r = lane/4 and r + 8 of its warp's slab; row statistics are reduced over the
// 4-lane quad. Warps whose rows all precede a tile (causal) or whose windows all start after it
// skip its arithmetic. kCap compiles the soft-capping in (see attention_simt.cuh).
#include "kernels/cuda/attention_simt.cuh"

namespace sp::cuda {

template <typename T>
struct MmaOp;
template <>
struct MmaOp<__nv_bfloat16> {
  static __device__ __forceinline__ void run(float (&c)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
        "{%0,%1,%2,%3};\n"
        : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
  }
  static __device__ __forceinline__ uint32_t pack(float lo, float hi) {
    __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);  // .x (low half) = lo
    return *reinterpret_cast<uint32_t*>(&v);
  }
  static __device__ __forceinline__ float sum2(uint32_t w) {
    return __uint_as_float(w << 16) + __uint_as_float(w & 0xffff0000u);
  }
};
template <>
struct MmaOp<__half> {
  static __device__ __forceinline__ void run(float (&c)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
        "{%0,%1,%2,%3};\n"
        : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
  }
  static __device__ __forceinline__ uint32_t pack(float lo, float hi) {
    __half2 v = __floats2half2_rn(lo, hi);
    return *reinterpret_cast<uint32_t*>(&v);
  }
  static __device__ __forceinline__ float sum2(uint32_t w) {
    const __half2 v = *reinterpret_cast<const __half2*>(&w);
    return __low2float(v) + __high2float(v);
  }
};

template <int D>
struct MmaCfg {
  static constexpr int kBQ = 64, kBK = 64, kThreads = 128;
  static constexpr int kStride = D + 8;  // halves per smem row (16-byte pad)
  static constexpr int kStages = 2;
  static constexpr size_t kSmem = size_t(kStages) * 2 * kBK * kStride * 2;  // > 48 KB for D = 128
};

// 16-byte global -> shared copy that bypasses registers; src_bytes = 0 writes zeros.
__device__ __forceinline__ void cp_async16(void* smem, const void* gmem, int src_bytes) {
  const unsigned s = static_cast<unsigned>(__cvta_generic_to_shared(smem));
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(s), "l"(gmem), "r"(src_bytes));
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::); }
template <int N>
__device__ __forceinline__ void cp_async_wait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(N));
}
// Four 8x8 b16 matrices; lane l gives the row address of matrix l/8, row l%8.
__device__ __forceinline__ void ldmatrix_x4(uint32_t (&r)[4], const void* smem) {
  const unsigned s = static_cast<unsigned>(__cvta_generic_to_shared(smem));
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(s));
}
__device__ __forceinline__ void ldmatrix_x4_trans(uint32_t (&r)[4], const void* smem) {
  const unsigned s = static_cast<unsigned>(__cvta_generic_to_shared(smem));
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(s));
}
__device__ __forceinline__ void ldmatrix_x2(uint32_t (&r)[2], const void* smem) {
  const unsigned s = static_cast<unsigned>(__cvta_generic_to_shared(smem));
  asm volatile("ldmatrix.sync.aligned.m8n8.x2.shared.b16 {%0,%1}, [%2];\n" : "=r"(r[0]), "=r"(r[1]) : "r"(s));
}

template <typename T, int D, bool kCap>
__global__ void __launch_bounds__(128) attention_mma_kernel(const AttnArgs args) {
  using C = MmaCfg<D>;
  constexpr int kBK = C::kBK, kS = C::kStride, kNT = kBK / 8, kDT = D / 8, kKC = D / 16;
  extern __shared__ float4 smem4[];
  uint16_t* const smem = reinterpret_cast<uint16_t*>(smem4);  // [stage][K | V][kBK][kS]

  const int b = blockIdx.z, h = blockIdx.y, kvh = h / args.group;
  const AttnArgs a = attn_window_args(args, b);
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, gr = lane >> 2, tq = lane & 3;
  const int q0 = blockIdx.x * C::kBQ;
  const int row0 = q0 + warp * 16 + gr, row1 = row0 + 8;  // this lane's two query rows
  const int warp_last_row = q0 + warp * 16 + 15;

  // Q fragments (A operand, row-major 16 x 16 per k-chunk), straight from global memory.
  const uint16_t* qbase = static_cast<const uint16_t*>(a.q) + int64_t(b) * a.q_len * a.q_row + int64_t(h) * D;
  auto qword = [&](int r, int col) -> uint32_t {
    return r < a.q_len ? *reinterpret_cast<const uint32_t*>(qbase + int64_t(r) * a.q_row + col) : 0u;
  };
  uint32_t qf[kKC][4];
#pragma unroll
  for (int kc = 0; kc < kKC; ++kc) {
    qf[kc][0] = qword(row0, kc * 16 + tq * 2);
    qf[kc][1] = qword(row1, kc * 16 + tq * 2);
    qf[kc][2] = qword(row0, kc * 16 + tq * 2 + 8);
    qf[kc][3] = qword(row1, kc * 16 + tq * 2 + 8);
  }

  float o[kDT][4];
#pragma unroll
  for (int i = 0; i < kDT; ++i) o[i][0] = o[i][1] = o[i][2] = o[i][3] = 0.f;
  float m0 = -INFINITY, m1 = -INFINITY, l0 = 0.f, l1 = 0.f;  // log2 domain maxima, partial sums
  const float sl2 = a.scale * 1.4426950408889634f;           // scale * log2(e)

  const int q_last = min(q0 + C::kBQ, a.q_len) - 1;
  const int kv_end = min(a.kv_len, q_last + a.q_offset + 1);
  const int n_tiles = (kv_end + kBK - 1) / kBK;
  const int t_first = attn_first_key(a, q0) / kBK;
  const int warp_first_key = attn_first_key(a, q0 + warp * 16);
  const uint16_t* kbase = static_cast<const uint16_t*>(a.k) + int64_t(b) * a.kv_stride * a.kv_row + int64_t(kvh) * D;
  const uint16_t* vbase = static_cast<const uint16_t*>(a.v) + int64_t(b) * a.kv_stride * a.kv_row + int64_t(kvh) * D;
  const int last0 = row0 + a.q_offset, last1 = row1 + a.q_offset;

  // Queue the copy of tile t into its stage: 16-byte chunks, zero rows past kv_len (0 * garbage
  // could be NaN in P V).
  auto load_tile = [&](int t) {
    uint16_t* ks = smem + (t & 1) * 2 * kBK * kS;
    uint16_t* vs = ks + kBK * kS;
    constexpr int kVecRow = D / 8;
    for (int e = threadIdx.x; e < kBK * kVecRow; e += C::kThreads) {
      const int kk = e / kVecRow, c = (e % kVecRow) * 8, j = t * kBK + kk;
      const bool in = j < a.kv_len;
      const int64_t off = in ? int64_t(j) * a.kv_row + c : 0;
      cp_async16(ks + kk * kS + c, kbase + off, in ? 16 : 0);
      cp_async16(vs + kk * kS + c, vbase + off, in ? 16 : 0);
    }
  };
  if (t_first < n_tiles) load_tile(t_first);
  cp_async_commit();

  for (int t = t_first; t < n_tiles; ++t) {
    if (t + 1 < n_tiles) load_tile(t + 1);  // into the stage consumed in iteration t - 1
    cp_async_commit();
    cp_async_wait<1>();  // tile t has landed (this thread's part) ...
    __syncthreads();     // ... and everyone's
    const int kv0 = t * kBK;
    // Else every key of the tile is masked for this warp.
    if (kv0 <= warp_last_row + a.q_offset && kv0 + kBK > warp_first_key) {
      const uint16_t* ks = smem + (t & 1) * 2 * kBK * kS;
      const uint16_t* vs = ks + kBK * kS;
      // S = Q K^T for this warp's 16 rows x 64 keys; K fragments by ldmatrix (two k-chunks at once).
      float s[kNT][4];
#pragma unroll
      for (int nt = 0; nt < kNT; ++nt) {
        s[nt][0] = s[nt][1] = s[nt][2] = s[nt][3] = 0.f;
        const uint16_t* krow = ks + (nt * 8 + (lane & 7)) * kS + (lane >> 3) * 8;
        if constexpr (kKC == 1) {
          uint32_t kf[2];
          ldmatrix_x2(kf, krow);
          MmaOp<T>::run(s[nt], qf[0], kf[0], kf[1]);
        } else {
#pragma unroll
          for (int kc = 0; kc < kKC; kc += 2) {
            uint32_t kf[4];
            ldmatrix_x4(kf, krow + kc * 16);
            MmaOp<T>::run(s[nt], qf[kc], kf[0], kf[1]);
            MmaOp<T>::run(s[nt], qf[kc + 1], kf[2], kf[3]);
          }
        }
      }
      // Scale (log2 domain), causal / window / length mask, tile row maxima.
      float mx0 = m0, mx1 = m1;
#pragma unroll
      for (int nt = 0; nt < kNT; ++nt) {
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          const int j = kv0 + nt * 8 + tq * 2 + (e & 1);
          const int last = e < 2 ? last0 : last1;
          float v;
          if constexpr (kCap) {
            v = attn_visible(a, j, last) ? a.softcap * tanhf(s[nt][e] * a.scale / a.softcap) * 1.4426950408889634f
                                         : -INFINITY;
          } else {
            v = attn_visible(a, j, last) ? s[nt][e] * sl2 : -INFINITY;
          }
          s[nt][e] = v;
          if (e < 2)
            mx0 = fmaxf(mx0, v);
          else
            mx1 = fmaxf(mx1, v);
        }
      }
#pragma unroll
      for (int off = 1; off < 4; off <<= 1) {
        mx0 = fmaxf(mx0, __shfl_xor_sync(0xffffffffu, mx0, off));
        mx1 = fmaxf(mx1, __shfl_xor_sync(0xffffffffu, mx1, off));
      }
      const float base0 = mx0 == -INFINITY ? 0.f : mx0, base1 = mx1 == -INFINITY ? 0.f : mx1;
      const float c0 = exp2f(m0 - base0), c1 = exp2f(m1 - base1);
      m0 = mx0;
      m1 = mx1;
      l0 *= c0;
      l1 *= c1;
#pragma unroll
      for (int dt = 0; dt < kDT; ++dt) {
        o[dt][0] *= c0;
        o[dt][1] *= c0;
        o[dt][2] *= c1;
        o[dt][3] *= c1;
      }
      // P = exp2(S - m), packed straight into A fragments (C layout == A layout), then O += P V.
#pragma unroll
      for (int kc = 0; kc < kBK / 16; ++kc) {
        uint32_t pf[4];
        float p[2][4];
#pragma unroll
        for (int half = 0; half < 2; ++half) {
#pragma unroll
          for (int e = 0; e < 4; ++e) p[half][e] = exp2f(s[2 * kc + half][e] - (e < 2 ? base0 : base1));
        }
        // Round P to the operand type first so the normaliser l sums the values actually multiplied.
        pf[0] = MmaOp<T>::pack(p[0][0], p[0][1]);
        pf[1] = MmaOp<T>::pack(p[0][2], p[0][3]);
        pf[2] = MmaOp<T>::pack(p[1][0], p[1][1]);
        pf[3] = MmaOp<T>::pack(p[1][2], p[1][3]);
        l0 += MmaOp<T>::sum2(pf[0]) + MmaOp<T>::sum2(pf[2]);
        l1 += MmaOp<T>::sum2(pf[1]) + MmaOp<T>::sum2(pf[3]);
        // V fragments (B operand, keys x dims) by ldmatrix.trans, two dim-tiles per instruction:
        // matrix m = lane/8 covers keys kc*16 + (m & 1) * 8 + (lane % 8), dims (dt + m / 2) * 8.
        const uint16_t* vrow = vs + (kc * 16 + ((lane >> 3) & 1) * 8 + (lane & 7)) * kS + (lane >> 4) * 8;
#pragma unroll
        for (int dt = 0; dt < kDT; dt += 2) {
          uint32_t vf[4];
          ldmatrix_x4_trans(vf, vrow + dt * 8);
          MmaOp<T>::run(o[dt], pf, vf[0], vf[1]);
          MmaOp<T>::run(o[dt + 1], pf, vf[2], vf[3]);
        }
      }
    }
    __syncthreads();  // the stage of tile t is free for tile t + 2
  }
  cp_async_wait<0>();

#pragma unroll
  for (int off = 1; off < 4; off <<= 1) {
    l0 += __shfl_xor_sync(0xffffffffu, l0, off);
    l1 += __shfl_xor_sync(0xffffffffu, l1, off);
  }
  const float i0 = l0 > 0.f ? 1.f / l0 : 0.f, i1 = l1 > 0.f ? 1.f / l1 : 0.f;
  uint16_t* obase = static_cast<uint16_t*>(a.out) + int64_t(b) * a.q_len * a.q_row + int64_t(h) * D;
#pragma unroll
  for (int dt = 0; dt < kDT; ++dt) {
    const int col = dt * 8 + tq * 2;
    if (row0 < a.q_len)
      *reinterpret_cast<uint32_t*>(obase + int64_t(row0) * a.q_row + col) =
          MmaOp<T>::pack(o[dt][0] * i0, o[dt][1] * i0);
    if (row1 < a.q_len)
      *reinterpret_cast<uint32_t*>(obase + int64_t(row1) * a.q_row + col) =
          MmaOp<T>::pack(o[dt][2] * i1, o[dt][3] * i1);
  }
}

}  // namespace sp::cuda
