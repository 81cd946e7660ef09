"""Sliding-window attention of Mistral (every layer) and Qwen2 (use_sliding_window: the layers from
max_window_layers on), with windows shorter than eval_seqlen (64) so that the window masks."""
from transformers import MistralConfig, Qwen2Config

from family_common import Case


def cases():
    common = dict(vocab_size=256, hidden_size=64, intermediate_size=96, num_attention_heads=4, num_key_value_heads=2,
                  max_position_embeddings=256, rms_norm_eps=1e-6, initializer_range=0.1, bos_token_id=1,
                  eos_token_id=2)
    return [
        Case("mistral_sliding", MistralConfig(num_hidden_layers=3, sliding_window=16, tie_word_embeddings=False,
                                              **common)),
        Case("qwen2_sliding", Qwen2Config(num_hidden_layers=3, use_sliding_window=True, sliding_window=20,
                                          max_window_layers=1, tie_word_embeddings=True, **common)),
    ]
