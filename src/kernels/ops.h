#pragma once
// Op front ends: one per operation. Each checks shapes / dtypes / devices, sizes the output and
// dispatches once to its CPU body (kernels/cpu) or CUDA body (kernels/cuda). Callers (model,
// prune) never see CUDA. Tensor layout contract: core/tensor.h.
//
// dtypes: every float operand of one op shares one dtype (the compute dtype): F32 everywhere;
// BF16 / F16 on CUDA (fp32 accumulation inside). Norm weights and biases follow the activation
// dtype too. Integer inputs (ids, positions, targets) are I32 on the op's device.
#include <vector>

#include "core/context.h"
#include "core/tensor.h"

namespace sp::ops {

// out[t, :] = table[ids[t], :]. table: [V, H]; ids: [T] I32 -> [T, H], dtype of table.
Tensor embedding(ExecContext& ctx, const Tensor& table, const Tensor& ids);

// y = x w^T + bias. x: [M, K]; w: [N, K]; bias: [N] or undefined -> [M, N].
// precision picks the product's arithmetic (Exact32 requires F32 operands: no TF32).
Tensor linear(ExecContext& ctx, const Tensor& x, const Tensor& w, const Tensor& bias, Precision precision);

// RMSNorm: y = x / sqrt(mean(x^2) + eps) * (w + w_offset), all in fp32, rounded once to x's dtype.
// w_offset: 0 for LLaMA, 1 for Gemma (whose weights are stored around zero). x: [M, H]; w: [H].
Tensor rms_norm(ExecContext& ctx, const Tensor& x, const Tensor& w, float eps, float w_offset = 0.f);

// LayerNorm (OPT): y = (x - mean) / sqrt(var + eps) * w + b, fp32 statistics. x: [M, H].
Tensor layer_norm(ExecContext& ctx, const Tensor& x, const Tensor& w, const Tensor& b, float eps);

// Rotate-half RoPE (Hugging Face layout), in place. x: [T, heads * head_dim]; positions: [T] I32.
// Only the first rotary_dim (even, <= head_dim) dims of each head rotate, rotate-half within them;
// the rest pass through (transformers' partial rotary, Phi-3). inv_freq: rotary_dim / 2
// frequencies (model/rope.h computes them for the config's rope type; a vector, not a span, as the
// .cu files that include this are C++17); angle = pos * inv_freq_i in fp32 (as transformers does);
// cos and sin are multiplied by attention_factor (1 except for yarn / longrope), as transformers'
// rotary embedding does.
void rope_(ExecContext& ctx, Tensor& x, const Tensor& positions, int heads, int head_dim, int rotary_dim,
           const std::vector<float>& inv_freq, float attention_factor = 1.f);

// Causal grouped-query attention, softmax in fp32, never materialising [q_len, kv_len] per head in
// device memory for long windows (tiled / online softmax).
//   q: [batch * q_len, n_heads * head_dim]
//   k, v: [batch * kv_stride, n_kv_heads * head_dim]; rows [b*kv_stride, b*kv_stride + kv_len) are
//         window b's keys (kv_stride >= kv_len lets a KV cache with spare capacity be passed as is)
//   query i (0-based in its window) sits at position p = i + q_offset (q_offset = kv_len - q_len
//   for a cache; 0 for a plain window) and sees keys j <= p; with window > 0 only keys
//   p - window < j <= p (transformers' sliding_window_causal: `kv_idx > q_idx - sliding_window`).
//   softcap > 0 caps the scaled scores as softcap * tanh(score / softcap) before the mask and the
//   softmax (Gemma 2's attn_logit_softcapping).
// -> [batch * q_len, n_heads * head_dim]
//   positions (optional, [batch * q_len] I32 on the op's device, consecutive within a window): the
//   query positions read on the device, so one recorded launch serves every decode step (a CUDA
//   graph): window b's q_offset is positions[b * q_len] and its kv_len positions[b * q_len + q_len - 1]
//   + 1, at most s.kv_len (then only a bound: the cache's capacity); s.q_offset is ignored.
struct AttentionShape {
  int batch = 1, q_len = 0, kv_len = 0, kv_stride = 0, q_offset = 0;
  int n_heads = 0, n_kv_heads = 0, head_dim = 0;
  float scale = 0.f;    // usually 1/sqrt(head_dim)
  int window = 0;       // 0: full causal
  float softcap = 0.f;  // 0: none
  const Tensor* positions = nullptr;
};
Tensor attention(ExecContext& ctx, const Tensor& q, const Tensor& k, const Tensor& v, const AttentionShape& s);

// KV-cache append: row t of x (window b = t / seqlen) into row b * capacity + positions[t] of cache,
// capacity = cache rows / windows. cache: [windows * capacity, W]; x: [windows * seqlen, W], same
// dtype; positions: [windows * seqlen] I32 on the op's device, in [0, capacity) (the caller's
// contract: read on the device, they are not checked on the host; a row outside is skipped).
void kv_cache_write_(ExecContext& ctx, Tensor& cache, const Tensor& x, const Tensor& positions, int seqlen);
// x += v for an I32 tensor (token positions advanced on the device).
void add_i32_(ExecContext& ctx, Tensor& x, int32_t v);

// Gated MLP activation act(gate) * up, elementwise, fp32 arithmetic: SwiGLU (silu, LLaMA) or GeGLU
// with the tanh GELU (Gemma's gelu_pytorch_tanh: 0.5 g (1 + tanh(sqrt(2/pi) (g + 0.044715 g^3)))).
// -> shape of gate.
enum class GateAct { kSilu, kGeluTanh };
Tensor gated_act(ExecContext& ctx, const Tensor& gate, const Tensor& up, GateAct act);

// Fused steps of the forward (one kernel each on CUDA, where a decode step is bound by launches).
// gated_act on halves and add_rms_norm give the separate ops' bits; rope_kv_write, used by
// inference only, may differ from rope_ in fp32's last bit (how the rotation's products contract).
// The same on one fused gate / up product: gate_up [M, 2F], gate columns first -> [M, F].
Tensor gated_act(ExecContext& ctx, const Tensor& gate_up, GateAct act);
// x += y (rounded to x's dtype, as add_), then rms_norm(x, w, eps, w_offset) -> [M, H].
Tensor add_rms_norm_(ExecContext& ctx, Tensor& x, const Tensor& y, const Tensor& w, float eps, float w_offset = 0.f);
// rope_ on q and k, then kv_cache_write_ of k and v, from one fused q / k / v product:
// qkv [T, (heads + 2 * kv_heads) * head_dim] (q, k, v side by side). k and v go into the caches
// ([windows * capacity, kv_heads * head_dim]) at the rows positions say -> q rotated [T, heads * head_dim].
struct RopeArgs {
  int heads = 0, kv_heads = 0, head_dim = 0, rotary_dim = 0;
  const std::vector<float>* inv_freq = nullptr;  // rotary_dim / 2
  float attention_factor = 1.f;
};
Tensor rope_kv_write(ExecContext& ctx, const Tensor& qkv, const Tensor& positions, int seqlen, const RopeArgs& r,
                     Tensor& k_cache, Tensor& v_cache);
// x *= s, in place, s first rounded to x's dtype (as torch multiplies by a tensor of that dtype).
void scale_(ExecContext& ctx, Tensor& x, float s);
// Tanh soft-capping x = cap * tanh(x / cap), in place, fp32 arithmetic (Gemma's logits). cap > 0.
void softcap_(ExecContext& ctx, Tensor& x, float cap);
// x = max(x, 0), in place.
void relu_(ExecContext& ctx, Tensor& x);
// x += y, in place (residual stream). Same shape and dtype.
void add_(ExecContext& ctx, Tensor& x, const Tensor& y);

// Per-row negative log-likelihood of targets under softmax(logits), fp32 math.
// logits: [M, V]; targets: [M] I32 -> [M] F32.
Tensor token_nll(ExecContext& ctx, const Tensor& logits, const Tensor& targets);
// KL(softmax(p) || softmax(q)) per row, fp32 math: how far q's next-token distribution is from p's.
// p, q: [M, V] same dtype -> [M] F32 (>= 0 up to rounding).
Tensor kl_div_rows(ExecContext& ctx, const Tensor& p, const Tensor& q);
// Index of the largest logit per row (lowest index on ties). logits: [M, V] -> [M] I32.
Tensor argmax_rows(ExecContext& ctx, const Tensor& logits);

// Element type conversion between F32 / F64 / BF16 / F16 in any direction (rounding to nearest
// even; F64 -> BF16 / F16 rounds through F32, i.e. twice, on both devices). -> new tensor.
Tensor convert(ExecContext& ctx, const Tensor& x, DType to);

// Synthetic weights: out[i] ~ normal(0, stddev) from a counter-based hash of (key, i)
// (kernels/synthetic_normal.h), so the same key gives the same tensor on any device and thread
// count. out: F32, contiguous, on the op's device.
void synthetic_normal_(ExecContext& ctx, Tensor& out, uint64_t key, float stddev);

}  // namespace sp::ops
