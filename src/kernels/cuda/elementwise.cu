// Elementwise bodies: embedding gather, gated activations (SwiGLU, GeGLU), ReLU, scaling, soft-capping,
// residual add, dtype conversion (F64 too).
// Memory-bound: 16-byte loads and stores when sizes and pointers allow, fp32 arithmetic.
#include <type_traits>

#include "kernels/cuda/common.cuh"
#include "kernels/cuda/cuda_ops.h"
#include "kernels/synthetic_normal.h"

namespace sp::cuda {
namespace {

// out[t, :] = table[ids[t], :]; an id outside [0, V) yields a NaN row (the front end validates
// ids on the host where it can; NaN makes a slip visible instead of reading out of bounds).
template <typename T, bool kWide>
__global__ void embedding_kernel(const T* __restrict__ table, const int32_t* __restrict__ ids, T* __restrict__ out,
                                 int64_t vocab, int64_t hidden) {
  const int64_t t = blockIdx.x;
  const int32_t id = ids[t];
  T* dst = out + t * hidden;
  if (id < 0 || id >= vocab) {
    for (int64_t h = threadIdx.x; h < hidden; h += blockDim.x) dst[h] = from_f32<T>(NAN);
    return;
  }
  const T* src = table + int64_t(id) * hidden;
  if constexpr (kWide) {
    using V = Vec16<T>;
    const int64_t nv = hidden / V::kN;
    for (int64_t i = threadIdx.x; i < nv; i += blockDim.x)
      reinterpret_cast<V*>(dst)[i] = reinterpret_cast<const V*>(src)[i];
  } else {
    for (int64_t h = threadIdx.x; h < hidden; h += blockDim.x) dst[h] = src[h];
  }
}

struct SiluMul {
  __device__ float operator()(float g, float u) const { return g / (1.f + __expf(-g)) * u; }
};
struct GeluTanhMul {  // torch's GELU(approximate='tanh'), as the CPU body
  __device__ float operator()(float g, float u) const {
    const float inner = 0.7978845608028654f * (g + 0.044715f * (g * g * g));
    return 0.5f * g * (1.f + tanhf(inner)) * u;
  }
};
struct Plus {
  __device__ float operator()(float a, float b) const { return a + b; }
};

// out[i] = op(a[i], b[i]) (out may alias a).
template <typename T, typename Op, bool kWide>
__global__ void binary_kernel(const T* a, const T* b, T* out, int64_t n, Op op) {
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if constexpr (kWide) {
    using V = Vec16<T>;
    for (; i < n / V::kN; i += stride) {
      V va = reinterpret_cast<const V*>(a)[i], vb = reinterpret_cast<const V*>(b)[i], vo;
#pragma unroll
      for (int k = 0; k < V::kN; ++k) vo.v[k] = from_f32<T>(op(to_f32(va.v[k]), to_f32(vb.v[k])));
      reinterpret_cast<V*>(out)[i] = vo;
    }
  } else {
    for (; i < n; i += stride) out[i] = from_f32<T>(op(to_f32(a[i]), to_f32(b[i])));
  }
}

struct Relu {
  __device__ float operator()(float v) const { return v < 0.f ? 0.f : v; }  // NaN stays NaN, as torch.relu
};
struct Scale {
  float s;
  __device__ float operator()(float v) const { return v * s; }
};
struct Softcap {  // torch's order: / cap, tanh, * cap
  float cap;
  __device__ float operator()(float v) const { return tanhf(v / cap) * cap; }
};

// x[i] = op(x[i]), in place.
template <typename T, typename Op>
__global__ void unary_kernel(T* x, int64_t n, Op op) {
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride)
    x[i] = from_f32<T>(op(to_f32(x[i])));
}

template <typename Op>
void launch_unary(ExecContext& ctx, Tensor& x, const char* name, Op op) {
  const int64_t n = x.numel();
  if (n == 0) return;
  dispatch_float(x.dtype(), name, [&](auto tag) {
    using T = typename decltype(tag)::type;
    unary_kernel<T, Op><<<blocks_for(n, 256), 256, 0, stream_of(ctx)>>>(x.data<T>(), n, op);
    SP_CUDA_CHECK_LAUNCH();
  });
}

// One element TI -> TO. Every path goes through fp32 except F32 -> F64 (exact) and F64 -> F32 (one
// rounding): F64 -> BF16 / F16 rounds twice (through float), bit for bit as the CPU body does.
template <typename TI, typename TO>
__device__ __forceinline__ TO convert_one(TI x) {
  if constexpr (std::is_same_v<TI, double>) {
    if constexpr (std::is_same_v<TO, double>) {
      return x;
    } else {
      return from_f32<TO>(float(x));
    }
  } else if constexpr (std::is_same_v<TO, double>) {
    return double(to_f32(x));
  } else {
    return from_f32<TO>(to_f32(x));
  }
}

template <typename TI, typename TO>
__global__ void convert_kernel(const TI* __restrict__ x, TO* __restrict__ out, int64_t n) {
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride)
    out[i] = convert_one<TI, TO>(x[i]);
}

// The float dtypes convert handles: dispatch_float's three and F64.
template <typename F>
void dispatch_convertible(DType t, F&& f) {
  if (t == DType::F64) {
    f(Type<double>{});
  } else {
    dispatch_float(t, "convert", f);
  }
}

// out[r, j] = op(gu[r, j], gu[r, f + j]): a fused gate / up product's two halves.
template <typename T, typename Op, bool kWide>
__global__ void gated_halves_kernel(const T* __restrict__ gu, T* __restrict__ out, int64_t rows, int64_t f, Op op) {
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  if constexpr (kWide) {
    using V = Vec16<T>;
    const int64_t fv = f / V::kN;  // vectors per output row
    for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < rows * fv; i += stride) {
      const int64_t r = i / fv, j = i - r * fv;
      const V* row = reinterpret_cast<const V*>(gu + r * 2 * f);
      const V g = row[j], u = row[fv + j];
      V o;
#pragma unroll
      for (int k = 0; k < V::kN; ++k) o.v[k] = from_f32<T>(op(to_f32(g.v[k]), to_f32(u.v[k])));
      reinterpret_cast<V*>(out)[i] = o;
    }
  } else {
    for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < rows * f; i += stride) {
      const int64_t r = i / f, j = i - r * f;
      out[i] = from_f32<T>(op(to_f32(gu[r * 2 * f + j]), to_f32(gu[r * 2 * f + f + j])));
    }
  }
}

template <typename T, typename Op>
void launch_gated_halves(ExecContext& ctx, const Tensor& gu, Tensor& out, Op op) {
  const int64_t rows = out.dim(0), f = out.dim(1);
  if (rows * f == 0) return;
  constexpr int kThreads = 256;
  if (f % Vec16<T>::kN == 0 && aligned16(gu.raw()) && aligned16(out.raw()))
    gated_halves_kernel<T, Op, true><<<blocks_for(rows * f / Vec16<T>::kN, kThreads), kThreads, 0, stream_of(ctx)>>>(
        gu.data<T>(), out.data<T>(), rows, f, op);
  else
    gated_halves_kernel<T, Op, false>
        <<<blocks_for(rows * f, kThreads), kThreads, 0, stream_of(ctx)>>>(gu.data<T>(), out.data<T>(), rows, f, op);
  SP_CUDA_CHECK_LAUNCH();
}

template <typename T, typename Op>
void launch_binary(ExecContext& ctx, const Tensor& a, const Tensor& b, Tensor& out, Op op) {
  const int64_t n = a.numel();
  if (n == 0) return;
  constexpr int kThreads = 256;
  const bool wide = n % Vec16<T>::kN == 0 && aligned16(a.raw()) && aligned16(b.raw()) && aligned16(out.raw());
  if (wide) {
    binary_kernel<T, Op, true><<<blocks_for(n / Vec16<T>::kN, kThreads), kThreads, 0, stream_of(ctx)>>>(
        a.data<T>(), b.data<T>(), out.data<T>(), n, op);
  } else {
    binary_kernel<T, Op, false>
        <<<blocks_for(n, kThreads), kThreads, 0, stream_of(ctx)>>>(a.data<T>(), b.data<T>(), out.data<T>(), n, op);
  }
  SP_CUDA_CHECK_LAUNCH();
}

}  // namespace

void embedding(ExecContext& ctx, const Tensor& table, const Tensor& ids, Tensor& out) {
  const int64_t rows = ids.numel(), vocab = table.dim(0), hidden = table.dim(1);
  if (rows == 0) return;
  dispatch_float(table.dtype(), "embedding", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const bool wide = hidden % Vec16<T>::kN == 0 && aligned16(table.raw()) && aligned16(out.raw());
    const int threads = 256;
    if (wide)
      embedding_kernel<T, true><<<unsigned(rows), threads, 0, stream_of(ctx)>>>(table.data<T>(), ids.data<int32_t>(),
                                                                                out.data<T>(), vocab, hidden);
    else
      embedding_kernel<T, false><<<unsigned(rows), threads, 0, stream_of(ctx)>>>(table.data<T>(), ids.data<int32_t>(),
                                                                                 out.data<T>(), vocab, hidden);
    SP_CUDA_CHECK_LAUNCH();
  });
}

void gated_act(ExecContext& ctx, const Tensor& gate, const Tensor& up, ops::GateAct act, Tensor& out) {
  dispatch_float(gate.dtype(), "gated_act", [&](auto tag) {
    using T = typename decltype(tag)::type;
    switch (act) {
      case ops::GateAct::kSilu:
        launch_binary<T>(ctx, gate, up, out, SiluMul{});
        break;
      case ops::GateAct::kGeluTanh:
        launch_binary<T>(ctx, gate, up, out, GeluTanhMul{});
        break;
    }
  });
}

void gated_act(ExecContext& ctx, const Tensor& gate_up, ops::GateAct act, Tensor& out) {
  dispatch_float(gate_up.dtype(), "gated_act", [&](auto tag) {
    using T = typename decltype(tag)::type;
    switch (act) {
      case ops::GateAct::kSilu:
        launch_gated_halves<T>(ctx, gate_up, out, SiluMul{});
        break;
      case ops::GateAct::kGeluTanh:
        launch_gated_halves<T>(ctx, gate_up, out, GeluTanhMul{});
        break;
    }
  });
}

void scale(ExecContext& ctx, Tensor& x, float s) { launch_unary(ctx, x, "scale", Scale{s}); }

void softcap(ExecContext& ctx, Tensor& x, float cap) { launch_unary(ctx, x, "softcap", Softcap{cap}); }

void add(ExecContext& ctx, Tensor& x, const Tensor& y) {
  dispatch_float(x.dtype(), "add", [&](auto tag) {
    using T = typename decltype(tag)::type;
    launch_binary<T>(ctx, x, y, x, Plus{});
  });
}

void relu(ExecContext& ctx, Tensor& x) { launch_unary(ctx, x, "relu", Relu{}); }

__global__ void add_i32_kernel(int32_t* __restrict__ x, int64_t n, int32_t v) {
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) x[i] += v;
}

void add_i32(ExecContext& ctx, Tensor& x, int32_t v) {
  const int64_t n = x.numel();
  if (n == 0) return;
  add_i32_kernel<<<blocks_for(n, 256), 256, 0, stream_of(ctx)>>>(x.data<int32_t>(), n, v);
  SP_CUDA_CHECK_LAUNCH();
}

void convert(ExecContext& ctx, const Tensor& x, Tensor& out) {
  const int64_t n = x.numel();
  if (n == 0) return;
  dispatch_convertible(x.dtype(), [&](auto tag_TI) {
    using TI = typename decltype(tag_TI)::type;
    dispatch_convertible(out.dtype(), [&](auto tag_TO) {
      using TO = typename decltype(tag_TO)::type;
      convert_kernel<TI, TO><<<blocks_for(n, 256), 256, 0, stream_of(ctx)>>>(x.data<TI>(), out.data<TO>(), n);
      SP_CUDA_CHECK_LAUNCH();
    });
  });
}

__global__ void synthetic_normal_kernel(float* __restrict__ out, int64_t n, uint64_t key, float stddev) {
  const int64_t stride = 2 * int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = 2 * (int64_t(blockIdx.x) * blockDim.x + threadIdx.x); i < n; i += stride) {
    float a, b;
    synthetic::normal_pair(key, i, stddev, a, b);
    out[i] = a;
    if (i + 1 < n) out[i + 1] = b;
  }
}

void synthetic_normal(ExecContext& ctx, Tensor& out, uint64_t key, float stddev) {
  const int64_t n = out.numel();
  synthetic_normal_kernel<<<blocks_for((n + 1) / 2, 256), 256, 0, stream_of(ctx)>>>(out.data<float>(), n, key, stddev);
  SP_CUDA_CHECK_LAUNCH();
}

}  // namespace sp::cuda
