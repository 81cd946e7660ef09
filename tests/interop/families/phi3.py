"""Phi-3 / Phi-4 (model_type phi3; Phi-4 uses the same class): fused qkv_proj and gate_up_proj, GQA,
partial rotary embeddings and LongRoPE.

phi3_longrope: partial_rotary_factor 0.5 (8 of 16 dims rotated), LongRoPE whose
original_max_position_embeddings (32) is below both the prompt and the evaluation window, so
transformers takes the long factors; factor = max_position_embeddings / original, so the attention
factor is derived (sqrt(1 + ln 8 / ln 32)); a sliding window of 24 on every layer (Phi-3-mini-4k
has one), shorter than the window and the prompt.
phi4_mini: Phi-4-mini's shape of options: tied embeddings, partial_rotary_factor 0.75, LongRoPE
given in rope_scaling with its legacy "type" and an explicit factor; original length 64 = the
evaluation window and above the prompt, so those take the short factors, and the greedy
continuation passes it: transformers' Phi3ForCausalLM drops its cache there and recomputes the
sequence with the long factors (model::generate_greedy does the same).
"""
from transformers import Phi3Config

from family_common import Case


def _factors(n, first, step):
    return [first + step * i for i in range(n)]


def cases():
    longrope = Phi3Config(
        vocab_size=256, hidden_size=64, intermediate_size=96, num_hidden_layers=3, num_attention_heads=4,
        num_key_value_heads=2, max_position_embeddings=256, original_max_position_embeddings=32,
        rms_norm_eps=1e-5, initializer_range=0.08, tie_word_embeddings=False, sliding_window=24,
        rope_parameters={"rope_type": "longrope", "rope_theta": 10000.0, "partial_rotary_factor": 0.5,
                         "short_factor": _factors(4, 1.0, 0.1), "long_factor": _factors(4, 1.5, 2.5)},
        bos_token_id=1, eos_token_id=2, pad_token_id=0)
    mini = Phi3Config(
        vocab_size=256, hidden_size=64, intermediate_size=80, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, max_position_embeddings=512, original_max_position_embeddings=64,
        rms_norm_eps=1e-5, initializer_range=0.08, tie_word_embeddings=True, partial_rotary_factor=0.75,
        rope_scaling={"type": "longrope", "factor": 4.0, "short_factor": _factors(6, 1.0, 0.4),
                      "long_factor": _factors(6, 2.0, 3.0)},
        bos_token_id=1, eos_token_id=2, pad_token_id=0)
    return [Case("phi3_longrope", longrope), Case("phi4_mini", mini)]
