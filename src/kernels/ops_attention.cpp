// Front ends of the attention ops: rotate-half RoPE and causal grouped-query attention.
#include <cmath>

#include "core/error.h"
#include "kernels/cpu/cpu_ops.h"
#include "kernels/cuda/cuda_ops.h"
#include "kernels/ops.h"
#include "kernels/ops_common.h"

namespace sp::ops {

using namespace detail;

void rope_(ExecContext& ctx, Tensor& x, const Tensor& positions, int heads, int head_dim, int rotary_dim,
           const std::vector<float>& inv_freq, float attention_factor) {
  require_float(ctx, x, "rope", "x");
  require_ndim(x, 2, "rope", "x");
  require_on(ctx, positions, "rope", "positions");
  require_dtype(positions, DType::I32, "rope", "positions");
  require_shape(positions, {x.dim(0)}, "rope", "positions");
  SP_REQUIRE(heads > 0 && head_dim > 0 && head_dim % 2 == 0, "ops::rope: heads {} and head_dim {} (must be even)",
             heads, head_dim);
  SP_REQUIRE(x.dim(1) == int64_t(heads) * head_dim, "ops::rope: x {} is not [T, {} heads x {}]", x.desc(), heads,
             head_dim);
  SP_REQUIRE(rotary_dim > 0 && rotary_dim % 2 == 0 && rotary_dim <= head_dim,
             "ops::rope: rotary_dim {} must be even, positive and at most head_dim {}", rotary_dim, head_dim);
  SP_REQUIRE(inv_freq.size() == size_t(rotary_dim / 2), "ops::rope: {} inverse frequencies for rotary_dim {}",
             inv_freq.size(), rotary_dim);
  SP_REQUIRE(attention_factor > 0.f, "ops::rope: attention_factor {} must be > 0", attention_factor);
  if (ctx.is_cuda()) {
    cuda::rope(ctx, x, positions, heads, head_dim, rotary_dim, inv_freq, attention_factor);
  } else {
    cpu::rope(x, positions, heads, head_dim, rotary_dim, inv_freq, attention_factor);
  }
}

Tensor attention(ExecContext& ctx, const Tensor& q, const Tensor& k, const Tensor& v, const AttentionShape& shape) {
  AttentionShape s = shape;
  SP_REQUIRE(s.batch > 0 && s.q_len > 0 && s.kv_len > 0 && s.n_heads > 0 && s.n_kv_heads > 0 && s.head_dim > 0,
             "ops::attention: batch {}, q_len {}, kv_len {}, heads {}, kv heads {}, head_dim {} must be positive",
             s.batch, s.q_len, s.kv_len, s.n_heads, s.n_kv_heads, s.head_dim);
  SP_REQUIRE(s.n_heads % s.n_kv_heads == 0, "ops::attention: {} query heads are not a multiple of {} KV heads",
             s.n_heads, s.n_kv_heads);
  if (s.kv_stride == 0) s.kv_stride = s.kv_len;
  SP_REQUIRE(s.kv_stride >= s.kv_len, "ops::attention: kv_stride {} < kv_len {}", s.kv_stride, s.kv_len);
  if (s.positions != nullptr) {
    require_on(ctx, *s.positions, "attention", "positions");
    require_dtype(*s.positions, DType::I32, "attention", "positions");
    require_shape(*s.positions, {int64_t(s.batch) * s.q_len}, "attention", "positions");
    s.q_offset = 0;  // read from the positions by the bodies
  }
  SP_REQUIRE(s.q_offset >= 0 && s.q_offset + s.q_len <= s.kv_len,
             "ops::attention: q_offset {} + q_len {} must lie within kv_len {}", s.q_offset, s.q_len, s.kv_len);
  if (s.scale == 0.f) s.scale = 1.f / std::sqrt(float(s.head_dim));
  SP_REQUIRE(s.window >= 0, "ops::attention: window {} must be >= 0 (0: full causal)", s.window);
  SP_REQUIRE(std::isfinite(s.softcap) && s.softcap >= 0.f, "ops::attention: softcap {} must be finite and >= 0",
             s.softcap);
  require_float(ctx, q, "attention", "q");
  require_float(ctx, k, "attention", "k");
  require_float(ctx, v, "attention", "v");
  require_same_dtype(q, k, "attention", "q", "k");
  require_same_dtype(q, v, "attention", "q", "v");
  require_shape(q, {int64_t(s.batch) * s.q_len, int64_t(s.n_heads) * s.head_dim}, "attention", "q");
  require_shape(k, {int64_t(s.batch) * s.kv_stride, int64_t(s.n_kv_heads) * s.head_dim}, "attention", "k");
  require_shape(v, k.shape(), "attention", "v");
  Tensor out = Tensor::empty(q.shape(), q.dtype(), ctx.device());
  if (ctx.is_cuda()) {
    cuda::attention(ctx, q, k, v, s, out);
  } else {
    cpu::attention(q, k, v, s, out);
  }
  return out;
}

void kv_cache_write_(ExecContext& ctx, Tensor& cache, const Tensor& x, const Tensor& positions, int seqlen) {
  require_on(ctx, cache, "kv_cache_write", "cache");
  require_on(ctx, x, "kv_cache_write", "x");
  require_ndim(cache, 2, "kv_cache_write", "cache");
  require_ndim(x, 2, "kv_cache_write", "x");
  require_same_dtype(cache, x, "kv_cache_write", "cache", "x");
  require_on(ctx, positions, "kv_cache_write", "positions");
  require_dtype(positions, DType::I32, "kv_cache_write", "positions");
  require_shape(positions, {x.dim(0)}, "kv_cache_write", "positions");
  SP_REQUIRE(seqlen > 0 && x.dim(0) % seqlen == 0 && x.dim(1) == cache.dim(1),
             "ops::kv_cache_write: x {} is not windows of {} rows of the cache's width ({})", x.desc(), seqlen,
             cache.desc());
  const int64_t windows = x.dim(0) / seqlen;
  SP_REQUIRE(windows > 0 && cache.dim(0) % windows == 0 && cache.dim(0) / windows >= seqlen,
             "ops::kv_cache_write: cache {} does not hold {} windows of at least {} rows", cache.desc(), windows,
             seqlen);
  if (ctx.is_cuda()) {
    cuda::kv_cache_write(ctx, cache, x, positions, seqlen);
  } else {
    cpu::kv_cache_write(cache, x, positions, seqlen);
  }
}

void add_i32_(ExecContext& ctx, Tensor& x, int32_t v) {
  require_on(ctx, x, "add_i32", "x");
  require_dtype(x, DType::I32, "add_i32", "x");
  if (ctx.is_cuda()) {
    cuda::add_i32(ctx, x, v);
  } else {
    cpu::add_i32(x, v);
  }
}

}  // namespace sp::ops
