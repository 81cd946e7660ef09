#pragma once
// Pieces of the decoder-layer forward shared by the families.
#include <string_view>

#include "model/arch.h"

namespace sp::model {

// Calls the tap, if any.
void tap(const LayerCall& c, std::string_view name, const Tensor& x);

// q/k/v projections (+ biases), RoPE when `rotary`, KV-cache append when c.cache is set, causal
// grouped-query attention with scale 1/sqrt(head_dim). h: [B*T, hidden] (the normed layer input).
// -> [B*T, n_heads * head_dim], the input of o_proj / out_proj. The layer must have n_heads > 0.
Tensor self_attention(const LayerCall& c, const Tensor& h, bool rotary);

// x[r, :] += bias for every row (what a Linear with no inputs left still adds). x: [M, N]; bias: [N].
void add_bias_rows(ExecContext& ctx, Tensor& x, const Tensor& bias);

}  // namespace sp::model
