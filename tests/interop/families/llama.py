"""LLaMA with GQA, biases on q/k/v (attention_bias) and untied embeddings: the baseline family."""
from transformers import LlamaConfig

from family_common import Case


def cases():
    cfg = LlamaConfig(vocab_size=256, hidden_size=64, intermediate_size=96, num_hidden_layers=3,
                      num_attention_heads=4, num_key_value_heads=2, head_dim=16, max_position_embeddings=256,
                      rms_norm_eps=1e-5, initializer_range=0.1, tie_word_embeddings=False,
                      attention_bias=True, bos_token_id=1, eos_token_id=2)
    return [Case("llama_gqa_bias", cfg)]
