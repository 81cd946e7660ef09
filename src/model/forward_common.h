#pragma once
// Pieces of the decoder-layer forward shared by the families.
#include <string_view>

#include "model/arch.h"

namespace sp::model {

// Calls the tap, if any; true when the forward stops here (c.stop_after == name).
bool tap(const LayerCall& c, std::string_view name, const Tensor& x);

// q/k/v projections (+ biases), per-head q/k RMSNorm when the layer has q_norm / k_norm, RoPE when
// `rotary`, KV-cache append when c.cache is set, causal grouped-query attention with scale
// 1/sqrt(head_dim) and the layer's sliding window (ModelConfig::window_of; the cache keeps every
// key, the window masks). h: [B*T, hidden] (the normed layer input).
// -> [B*T, n_heads * head_dim], the input of o_proj / out_proj. The layer must have n_heads > 0.
Tensor self_attention(const LayerCall& c, const Tensor& h, bool rotary);

// The attention half of a residual block: x += o_proj(self_attention(h)), tapping "attn_o_in". A
// layer pruned to zero heads has no attention; its o_proj bias (if any) is still added. True when
// the forward stops at "attn_o_in".
bool attention_residual(const LayerCall& c, const Tensor& h, bool rotary);

// The MLP output of a residual block: x += down(act), tapping "mlp_down_in" (act: the down /
// fc2 input, [B*T, intermediate]). Without neurons (act undefined) only down's bias is added. True
// when the forward stops at "mlp_down_in".
bool down_residual(const LayerCall& c, const Tensor& act);

// x[r, :] += bias for every row (what a Linear with no inputs left still adds). x: [M, N]; bias: [N].
void add_bias_rows(ExecContext& ctx, Tensor& x, const Tensor& bias);

}  // namespace sp::model
