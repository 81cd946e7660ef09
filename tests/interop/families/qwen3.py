"""Qwen3: per-head RMSNorm of queries and keys (q_norm / k_norm), head_dim apart from
hidden_size / num_attention_heads, sliding-window layers (windows shorter than eval_seqlen) chosen
by max_window_layers or by explicit layer_types, with and without attention_bias, tied and untied
embeddings."""
from transformers import Qwen3Config

from family_common import Case


def cases():
    common = dict(vocab_size=256, hidden_size=64, intermediate_size=96, num_attention_heads=4, num_key_value_heads=2,
                  max_position_embeddings=256, rms_norm_eps=1e-6, initializer_range=0.1, bos_token_id=1,
                  eos_token_id=2)
    return [
        # head_dim 24 (not 64 / 4); layers 1 and 2 slide (from max_window_layers 1) over 16 keys.
        Case("qwen3_sliding", Qwen3Config(num_hidden_layers=3, head_dim=24, use_sliding_window=True, sliding_window=16,
                                          max_window_layers=1, attention_bias=False, tie_word_embeddings=False,
                                          **common)),
        # q/k/v/o biases, tied embeddings, sliding (12 keys) and full layers alternating by layer_types.
        Case("qwen3_bias_layer_types",
             Qwen3Config(num_hidden_layers=4, head_dim=16, use_sliding_window=True, sliding_window=12,
                         layer_types=["sliding_attention", "full_attention", "sliding_attention", "full_attention"],
                         attention_bias=True, tie_word_embeddings=True,
                         rope_parameters={"rope_type": "default", "rope_theta": 1000000.0}, **common)),
    ]
