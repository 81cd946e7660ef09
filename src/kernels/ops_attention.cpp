// Front ends of the attention ops: rotate-half RoPE and causal grouped-query attention.
#include <cmath>

#include "core/error.h"
#include "kernels/cpu/cpu_ops.h"
#include "kernels/cuda/cuda_ops.h"
#include "kernels/ops.h"
#include "kernels/ops_common.h"

namespace sp::ops {

using namespace detail;

namespace {

// rope_'s checks of the head layout and the frequencies (shared with rope_kv_write).
void require_rope_args(const char* op, int heads, int head_dim, int rotary_dim, const std::vector<float>& inv_freq,
                       float attention_factor) {
  SP_REQUIRE(heads > 0 && head_dim > 0 && head_dim % 2 == 0, "ops::{}: heads {} and head_dim {} (must be even)", op,
             heads, head_dim);
  SP_REQUIRE(rotary_dim > 0 && rotary_dim % 2 == 0 && rotary_dim <= head_dim,
             "ops::{}: rotary_dim {} must be even, positive and at most head_dim {}", op, rotary_dim, head_dim);
  SP_REQUIRE(inv_freq.size() == size_t(rotary_dim / 2), "ops::{}: {} inverse frequencies for rotary_dim {}", op,
             inv_freq.size(), rotary_dim);
  SP_REQUIRE(attention_factor > 0.f, "ops::{}: attention_factor {} must be > 0", op, attention_factor);
}

// kv_cache_write_'s checks of the cache against x's rows ([windows * seqlen, width]).
void require_cache(ExecContext& ctx, const Tensor& cache, const char* name, const Tensor& x, int64_t width, int seqlen,
                   const char* op) {
  require_on(ctx, cache, op, name);
  require_ndim(cache, 2, op, name);
  require_same_dtype(cache, x, op, name, "x");
  SP_REQUIRE(seqlen > 0 && x.dim(0) % seqlen == 0 && width == cache.dim(1),
             "ops::{}: x {} is not windows of {} rows of the {}'s width ({})", op, x.desc(), seqlen, name,
             cache.desc());
  const int64_t windows = x.dim(0) / seqlen;
  SP_REQUIRE(windows > 0 && cache.dim(0) % windows == 0 && cache.dim(0) / windows >= seqlen,
             "ops::{}: {} {} does not hold {} windows of at least {} rows", op, name, cache.desc(), windows, seqlen);
}

}  // namespace

void rope_(ExecContext& ctx, Tensor& x, const Tensor& positions, int heads, int head_dim, int rotary_dim,
           const std::vector<float>& inv_freq, float attention_factor) {
  require_float(ctx, x, "rope", "x");
  require_ndim(x, 2, "rope", "x");
  require_on(ctx, positions, "rope", "positions");
  require_dtype(positions, DType::I32, "rope", "positions");
  require_shape(positions, {x.dim(0)}, "rope", "positions");
  require_rope_args("rope", heads, head_dim, rotary_dim, inv_freq, attention_factor);
  SP_REQUIRE(x.dim(1) == int64_t(heads) * head_dim, "ops::rope: x {} is not [T, {} heads x {}]", x.desc(), heads,
             head_dim);
  if (ctx.is_cuda()) {
    cuda::rope(ctx, x, positions, heads, head_dim, rotary_dim, inv_freq, attention_factor);
  } else {
    cpu::rope(x, positions, heads, head_dim, rotary_dim, inv_freq, attention_factor);
  }
}

Tensor rope_kv_write(ExecContext& ctx, const Tensor& qkv, const Tensor& positions, int seqlen, const RopeArgs& r,
                     Tensor& k_cache, Tensor& v_cache) {
  const char* op = "rope_kv_write";
  require_float(ctx, qkv, op, "qkv");
  require_ndim(qkv, 2, op, "qkv");
  require_on(ctx, positions, op, "positions");
  require_dtype(positions, DType::I32, op, "positions");
  require_shape(positions, {qkv.dim(0)}, op, "positions");
  SP_REQUIRE(r.inv_freq != nullptr, "ops::rope_kv_write: no inverse frequencies");
  require_rope_args(op, r.heads, r.head_dim, r.rotary_dim, *r.inv_freq, r.attention_factor);
  SP_REQUIRE(r.kv_heads > 0 && r.heads % r.kv_heads == 0, "ops::rope_kv_write: {} heads in {} KV groups", r.heads,
             r.kv_heads);
  const int64_t q_width = int64_t(r.heads) * r.head_dim, kv_width = int64_t(r.kv_heads) * r.head_dim;
  SP_REQUIRE(qkv.dim(1) == q_width + 2 * kv_width, "ops::rope_kv_write: qkv {} is not [T, ({} + 2 x {}) heads x {}]",
             qkv.desc(), r.heads, r.kv_heads, r.head_dim);
  require_cache(ctx, k_cache, "k_cache", qkv, kv_width, seqlen, op);
  require_cache(ctx, v_cache, "v_cache", qkv, kv_width, seqlen, op);
  Tensor q = Tensor::empty({qkv.dim(0), q_width}, qkv.dtype(), ctx.device());
  if (ctx.is_cuda()) {
    cuda::rope_kv_write(ctx, qkv, positions, seqlen, r, k_cache, v_cache, q);
  } else {
    cpu::rope_kv_write(qkv, positions, seqlen, r, k_cache, v_cache, q);
  }
  return q;
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
  require_on(ctx, x, "kv_cache_write", "x");
  require_ndim(x, 2, "kv_cache_write", "x");
  require_on(ctx, positions, "kv_cache_write", "positions");
  require_dtype(positions, DType::I32, "kv_cache_write", "positions");
  require_shape(positions, {x.dim(0)}, "kv_cache_write", "positions");
  require_cache(ctx, cache, "cache", x, x.dim(1), seqlen, "kv_cache_write");
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
