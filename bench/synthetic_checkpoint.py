#!/usr/bin/env python3
"""Writes a Hugging Face LLaMA checkpoint folder of a published shape with random bf16 weights
(normal(0, 0.02), norms 1), independently of struprune-dist, so that loading from disk can be timed
against the engine's on-device synthetic weights. Labelled synthetic: the values mean nothing.

  python3 bench/synthetic_checkpoint.py --shape llama2-7b --layers 8 --out /tmp/ckpt7b
"""
import argparse, json, os, sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from prune_scaling import SHAPES  # noqa: E402

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--shape", default="llama2-7b")
    ap.add_argument("--layers", type=int, default=0, help="decoder layers (0: as published)")
    ap.add_argument("--out", required=True)
    ap.add_argument("--shard-gb", type=float, default=5.0)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    cfg = dict(SHAPES[a.shape])
    assert cfg["model_type"] == "llama", "LLaMA shapes only"
    if a.layers:
        cfg["num_hidden_layers"] = a.layers
    cfg.update(architectures=["LlamaForCausalLM"], torch_dtype="bfloat16", tie_word_embeddings=False)
    os.makedirs(a.out, exist_ok=True)
    json.dump(cfg, open(os.path.join(a.out, "config.json"), "w"), indent=1)
    h, f, v = cfg["hidden_size"], cfg["intermediate_size"], cfg["vocab_size"]
    hd = h // cfg["num_attention_heads"]
    kv = cfg.get("num_key_value_heads", cfg["num_attention_heads"]) * hd
    specs = [("model.embed_tokens.weight", [v, h])]
    for l in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{l}."
        specs += [(p + "input_layernorm.weight", [h]), (p + "self_attn.q_proj.weight", [h, h]),
                  (p + "self_attn.k_proj.weight", [kv, h]), (p + "self_attn.v_proj.weight", [kv, h]),
                  (p + "self_attn.o_proj.weight", [h, h]), (p + "post_attention_layernorm.weight", [h]),
                  (p + "mlp.gate_proj.weight", [f, h]), (p + "mlp.up_proj.weight", [f, h]),
                  (p + "mlp.down_proj.weight", [h, f])]
    specs += [("model.norm.weight", [h]), ("lm_head.weight", [v, h])]
    rng = np.random.default_rng(a.seed)
    limit = int(a.shard_gb * 2**30)
    shards, cur, size = [], [], 0
    for name, shape in specs:
        b = int(np.prod(shape)) * 2
        if cur and size + b > limit:
            shards.append(cur); cur, size = [], 0
        cur.append((name, shape)); size += b
    shards.append(cur)
    weight_map = {}
    for i, shard in enumerate(shards):
        fname = "model.safetensors" if len(shards) == 1 else f"model-{i + 1:05d}-of-{len(shards):05d}.safetensors"
        header, off = {"__metadata__": {"format": "pt"}}, 0
        for name, shape in shard:
            n = int(np.prod(shape)) * 2
            header[name] = {"dtype": "BF16", "shape": shape, "data_offsets": [off, off + n]}
            off += n
            weight_map[name] = fname
        hb = json.dumps(header).encode()
        hb += b" " * (-len(hb) % 8)
        with open(os.path.join(a.out, fname), "wb") as out:
            out.write(len(hb).to_bytes(8, "little")); out.write(hb)
            for name, shape in shard:
                if name.endswith("norm.weight"):
                    bits = np.full(shape, 0x3F80, dtype=np.uint16)
                else:
                    x = rng.standard_normal(int(np.prod(shape)), dtype=np.float32) * np.float32(0.02)
                    bits = (x.view(np.uint32) >> 16).astype(np.uint16)
                out.write(bits.tobytes())
    if len(shards) > 1:
        total = sum(int(np.prod(s)) * 2 for _, s in specs)
        json.dump({"metadata": {"total_size": total}, "weight_map": weight_map},
                  open(os.path.join(a.out, "model.safetensors.index.json"), "w"), indent=1)
    print(f"{a.out}: {a.shape} with {cfg['num_hidden_layers']} layers, {len(shards)} shard(s)")

if __name__ == "__main__":
    main()
