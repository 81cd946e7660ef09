"""Gemma 2 and Gemma 3 (text): (1 + w) RMSNorms before and after each block, GeGLU (tanh GELU), scaled
embeddings, query_pre_attn_scalar apart from head_dim, sliding and full layers with a window shorter than
the evaluated sequence, soft-capped attention scores (Gemma 2) and logits, tied embeddings.

The soft-caps are small enough that tanh bends the values these models produce (logits of a few units),
so a missing or misplaced cap shows. gemma3_text has head_dim 256 (the released models' value, apart
from hidden / heads), per-head q/k norms and a RoPE per layer type (linear-scaled full layers, a small
local base on sliding ones)."""
from transformers import Gemma2Config, Gemma3TextConfig

from family_common import Case


def cases():
    g2 = Gemma2Config(vocab_size=256, hidden_size=64, intermediate_size=96, num_hidden_layers=4,
                      num_attention_heads=4, num_key_value_heads=2, head_dim=32, query_pre_attn_scalar=24,
                      sliding_window=16, layer_types=["sliding_attention", "full_attention"] * 2,
                      attn_logit_softcapping=2.0, final_logit_softcapping=2.5, max_position_embeddings=256,
                      rms_norm_eps=1e-6, initializer_range=0.1, bos_token_id=2, eos_token_id=1, pad_token_id=0)
    # One KV group per layer (GQA 2:1) and a wide MLP: the units stay fine enough for a uniform shape.
    g3 = Gemma3TextConfig(vocab_size=256, hidden_size=32, intermediate_size=320, num_hidden_layers=3,
                          num_attention_heads=2, num_key_value_heads=1, head_dim=256, query_pre_attn_scalar=48,
                          sliding_window=24,
                          layer_types=["sliding_attention", "full_attention", "sliding_attention"],
                          rope_parameters={"full_attention": {"rope_type": "linear", "factor": 2.0,
                                                              "rope_theta": 10000.0},
                                           "sliding_attention": {"rope_type": "default", "rope_theta": 100.0}},
                          final_logit_softcapping=3.0, max_position_embeddings=256, rms_norm_eps=1e-6,
                          initializer_range=0.1, bos_token_id=2, eos_token_id=1, pad_token_id=0)
    return [Case("gemma2", g2), Case("gemma3_text", g3)]
