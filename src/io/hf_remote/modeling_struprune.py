# Written by struprune-dist beside a compact checkpoint whose layers differ in shape (config.json
# "struprune_layers"). It lets stock transformers load it:
#     AutoModelForCausalLM.from_pretrained(folder, trust_remote_code=True)
# Every decoder layer is transformers' own layer (Llama, Mistral, Qwen2, Qwen3, Gemma 2, Gemma 3 or OPT) built from a copy of
# the config that carries that layer's head, KV-head and MLP counts; the math is transformers'.
# A layer whose heads are all removed has no attention (its output projection's bias, if any, is
# added); a layer whose neurons are all removed has zero-width MLP projections.
import copy

import torch
from torch import nn
from transformers import (
    Gemma2Config,
    Gemma2ForCausalLM,
    Gemma3ForCausalLM,
    Gemma3TextConfig,
    LlamaConfig,
    LlamaForCausalLM,
    MistralConfig,
    MistralForCausalLM,
    OPTConfig,
    OPTForCausalLM,
    Qwen2Config,
    Qwen2ForCausalLM,
    Qwen3Config,
    Qwen3ForCausalLM,
)
from transformers.models.gemma2.modeling_gemma2 import Gemma2DecoderLayer
from transformers.models.gemma3.modeling_gemma3 import Gemma3DecoderLayer
from transformers.models.llama.modeling_llama import LlamaDecoderLayer
from transformers.models.mistral.modeling_mistral import MistralDecoderLayer
from transformers.models.opt.modeling_opt import OPTDecoderLayer
from transformers.models.qwen2.modeling_qwen2 import Qwen2DecoderLayer
from transformers.models.qwen3.modeling_qwen3 import Qwen3DecoderLayer


def _head_dim(config):
    hd = getattr(config, "head_dim", None)
    return int(hd) if hd else config.hidden_size // config.num_attention_heads


class _Bias(nn.Module):
    def __init__(self, n):
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(n))


class RemovedAttention(nn.Module):
    """Attention of a layer whose heads were all removed: adds nothing but the output bias.

    It still appends an empty (zero-head) entry to the cache so that the cache's sequence length,
    which positions are computed from, stays right when this is the first layer."""

    def __init__(self, config, layer_idx, out_proj_name, has_bias):
        super().__init__()
        self.layer_idx = layer_idx
        self.head_dim = _head_dim(config)
        self._out = out_proj_name
        if has_bias:
            setattr(self, out_proj_name, _Bias(config.hidden_size))

    def forward(self, hidden_states, *args, **kwargs):
        cache = kwargs.get("cache", kwargs.get("past_key_values"))
        if cache is not None:
            b, t, _ = hidden_states.shape
            empty = hidden_states.new_zeros(b, 0, t, self.head_dim)
            cache.update(empty, empty, self.layer_idx)
        out = torch.zeros_like(hidden_states)
        proj = getattr(self, self._out, None)
        if proj is not None:
            out = out + proj.bias.to(out.dtype)
        return out, None


def _shapes(config):
    layers = getattr(config, "struprune_layers", None) or []
    if len(layers) != config.num_hidden_layers:
        raise ValueError(
            f"config.json: 'struprune_layers' has {len(layers)} entries, 'num_hidden_layers' is {config.num_hidden_layers}"
        )
    return layers


def _llama_like_layer(layer_cls, config, shape, i):
    c = copy.deepcopy(config)
    c.struprune_layers = None
    c.head_dim = _head_dim(config)
    heads = int(shape["num_attention_heads"])
    c.num_attention_heads = max(heads, 1)
    c.num_key_value_heads = max(int(shape["num_key_value_heads"]), 1)
    c.intermediate_size = int(shape["intermediate_size"])
    layer = layer_cls(c, i)
    if heads == 0:
        layer.self_attn = RemovedAttention(c, i, "o_proj", bool(getattr(config, "attention_bias", False)))
    return layer


def _opt_layer(config, shape, i):
    c = copy.deepcopy(config)
    c.struprune_layers = None
    hd = _head_dim(config)
    heads = int(shape["num_attention_heads"])
    c.ffn_dim = int(shape["intermediate_size"])
    c.num_attention_heads = config.hidden_size // hd  # what stock OPTAttention accepts; rebuilt below
    layer = OPTDecoderLayer(c, i)
    attn = layer.self_attn
    if heads == 0:
        layer.self_attn = RemovedAttention(c, i, "out_proj", bool(config.enable_bias))
        return layer
    # OPTAttention derives head_dim from hidden_size / heads; a pruned layer keeps the original
    # head_dim with fewer heads, so its projections are rebuilt at heads * head_dim.
    width, bias = heads * hd, bool(config.enable_bias)
    attn.num_heads, attn.head_dim, attn.scaling = heads, hd, hd**-0.5
    attn.q_proj = nn.Linear(config.hidden_size, width, bias=bias)
    attn.k_proj = nn.Linear(config.hidden_size, width, bias=bias)
    attn.v_proj = nn.Linear(config.hidden_size, width, bias=bias)
    attn.out_proj = nn.Linear(width, config.hidden_size, bias=bias)
    return layer


class StruPruneLlamaConfig(LlamaConfig):
    pass


class StruPruneMistralConfig(MistralConfig):
    pass


class StruPruneQwen2Config(Qwen2Config):
    pass


class StruPruneQwen3Config(Qwen3Config):
    pass


class StruPruneOPTConfig(OPTConfig):
    pass


class StruPruneGemma2Config(Gemma2Config):
    pass


class StruPruneGemma3Config(Gemma3TextConfig):
    pass


class StruPruneLlamaForCausalLM(LlamaForCausalLM):
    config_class = StruPruneLlamaConfig

    def __init__(self, config):
        super().__init__(config)
        for i, s in enumerate(_shapes(config)):
            self.model.layers[i] = _llama_like_layer(LlamaDecoderLayer, config, s, i)
        self.post_init()


class StruPruneMistralForCausalLM(MistralForCausalLM):
    config_class = StruPruneMistralConfig

    def __init__(self, config):
        super().__init__(config)
        for i, s in enumerate(_shapes(config)):
            self.model.layers[i] = _llama_like_layer(MistralDecoderLayer, config, s, i)
        self.post_init()


class StruPruneQwen2ForCausalLM(Qwen2ForCausalLM):
    config_class = StruPruneQwen2Config

    def __init__(self, config):
        super().__init__(config)
        for i, s in enumerate(_shapes(config)):
            self.model.layers[i] = _llama_like_layer(Qwen2DecoderLayer, config, s, i)
        self.post_init()


class StruPruneQwen3ForCausalLM(Qwen3ForCausalLM):
    config_class = StruPruneQwen3Config

    def __init__(self, config):
        super().__init__(config)
        for i, s in enumerate(_shapes(config)):
            self.model.layers[i] = _llama_like_layer(Qwen3DecoderLayer, config, s, i)
        self.post_init()


class StruPruneOPTForCausalLM(OPTForCausalLM):
    config_class = StruPruneOPTConfig

    def __init__(self, config):
        # Stock OPT requires heads to divide hidden_size, which the per-layer maximum need not do; the
        # stock layers are built with the original head count and then replaced.
        heads = config.num_attention_heads
        config.num_attention_heads = config.hidden_size // _head_dim(config)
        try:
            super().__init__(config)
        finally:
            config.num_attention_heads = heads
        for i, s in enumerate(_shapes(config)):
            self.model.decoder.layers[i] = _opt_layer(config, s, i)
        self.post_init()


class StruPruneGemma2ForCausalLM(Gemma2ForCausalLM):
    config_class = StruPruneGemma2Config

    def __init__(self, config):
        super().__init__(config)
        for i, s in enumerate(_shapes(config)):
            self.model.layers[i] = _llama_like_layer(Gemma2DecoderLayer, config, s, i)
        self.post_init()


class StruPruneGemma3ForCausalLM(Gemma3ForCausalLM):
    config_class = StruPruneGemma3Config

    def __init__(self, config):
        super().__init__(config)
        for i, s in enumerate(_shapes(config)):
            self.model.layers[i] = _llama_like_layer(Gemma3DecoderLayer, config, s, i)
        self.post_init()
