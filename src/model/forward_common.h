#pragma once
// Pieces of the decoder-layer forward shared by the families.
#include "kernels/ops.h"
#include "model/arch.h"

namespace sp::model {

// Calls the tap, if any; true when the forward stops here (c.stop_after == at).
bool tap(const LayerCall& c, TapPoint at, const Tensor& x);

// q/k/v projections (+ biases), per-head q/k RMSNorm when the layer has q_norm / k_norm (qwen3,
// Gemma 3; Gemma's norms multiply by 1 + w), RoPE when `rotary` (the layer type's table), KV-cache
// append when c.cache is set, causal grouped-query attention with scale 1/sqrt(head_dim) (Gemma:
// query_pre_attn_scalar^-0.5), the layer's sliding window (ModelConfig::window_of; the cache keeps
// every key, the window masks) and score soft-cap (Gemma 2). h: [B*T, hidden] (the normed layer
// input).
// -> [B*T, n_heads * head_dim], the input of o_proj / out_proj. The layer must have n_heads > 0.
Tensor self_attention(const LayerCall& c, const Tensor& h, bool rotary);

// The attention block's output o_proj(self_attention(h)) into `out` ([B*T, hidden]), tapping
// TapPoint::AttnOIn. A layer pruned to zero heads has no attention: `out` is its o_proj bias in every
// row, or undefined without one. True when the forward stops at AttnOIn.
bool attention_output(const LayerCall& c, const Tensor& h, bool rotary, Tensor& out);
// The attention half of a pre-norm residual block: x += attention_output(h). True when the forward
// stops at AttnOIn.
bool attention_residual(const LayerCall& c, const Tensor& h, bool rotary);

// act(gate(h)) * up(h), the gated MLP's down input [B*T, intermediate]: one product over the stacked
// gate_up_w when the weights have it (inference), else two. Undefined for a layer without neurons.
Tensor gated_mlp_act(const LayerCall& c, const Tensor& h, ops::GateAct act);

// The MLP's output down(act) into `out`, tapping TapPoint::MlpDownIn (act: the down / fc2 input,
// [B*T, intermediate]). Without neurons (act undefined) `out` is down's bias in every row, or
// undefined without one. True when the forward stops at MlpDownIn.
bool down_output(const LayerCall& c, const Tensor& act, Tensor& out);
// The MLP output of a pre-norm residual block: x += down_output(act). True when the forward stops
// at MlpDownIn.
bool down_residual(const LayerCall& c, const Tensor& act);

// bias in each of m rows (what a Linear with no inputs left still outputs). bias: [N] -> [m, N].
Tensor bias_rows(ExecContext& ctx, const Tensor& bias, int64_t m);

}  // namespace sp::model
