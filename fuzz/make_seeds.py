#!/usr/bin/env python3
"""Writes the fuzzers' seed corpora into OUT/<target>/ (standard library only).

usage: make_seeds.py REPO SHARED OUT
Seeds are small on purpose (libFuzzer mutates faster and its -max_len follows the largest seed):
  safetensors    a few tensors of stories260K's file in every dtype, with and without metadata;
  model_config   the shipped and shared config.json files and per-architecture variants;
  tokenizer_json the shared tokenizer.json files cut to their first few hundred ids (and the merges
                 that stay inside them), structure (normalizer, pre-tokenizer, decoder) kept;
  config_yaml    the shipped configs/*.yaml;
  journal        the resume journal's files for the tiny model of parse_journal_fuzz_input
                 (src/persist/journal_read.h): inputs.json, pass1.json and layer 0's record with its
                 tensors (producers derived, with and without added biases).
"""
import glob, json, os, struct, sys


def write(out, target, name, data):
    os.makedirs(os.path.join(out, target), exist_ok=True)
    with open(os.path.join(out, target, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def safetensors_bytes(tensors, metadata=None):
    header, blob = {}, b""
    for name, (dtype, shape, data) in tensors.items():
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(blob), len(blob) + len(data)]}
        blob += data
    if metadata is not None:
        header["__metadata__"] = metadata
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    return struct.pack("<Q", len(h)) + h + blob


def safetensors_seeds(repo, out):
    t = {
        "model.norm.weight": ("F32", [4], struct.pack("<4f", 1, 0.5, -2, 3)),
        "b": ("BF16", [2, 2], struct.pack("<4H", 0x3F80, 0x4000, 0xBF80, 0)),
        "h": ("F16", [3], struct.pack("<3H", 0x3C00, 0x7BFF, 1)),
        "d": ("F64", [1], struct.pack("<d", 1e300)),
        "i": ("I64", [2], struct.pack("<2q", 7, -3)),
        "e": ("F32", [0, 5], b""),
        "s": ("I32", [], struct.pack("<i", 42)),
    }
    write(out, "safetensors", "mixed.safetensors", safetensors_bytes(t, {"format": "pt"}))
    write(out, "safetensors", "one.safetensors", safetensors_bytes({"w": t["model.norm.weight"]}))
    write(out, "safetensors", "empty.safetensors", safetensors_bytes({}))
    raw = open(os.path.join(repo, "examples/stories260K/model.safetensors"), "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    small = {k: v for k, v in header.items() if k.endswith("layernorm.weight") and ".layers.0." in k}
    data = raw[8 + n:]
    picked = {k: (v["dtype"], v["shape"], data[v["data_offsets"][0]:v["data_offsets"][1]]) for k, v in small.items()}
    write(out, "safetensors", "stories_norms.safetensors", safetensors_bytes(picked, {"format": "pt"}))


def model_config_seeds(repo, shared, out):
    paths = [os.path.join(repo, "examples/stories260K/config.json")]
    paths += sorted(glob.glob(os.path.join(shared, "models/*/config.json")))
    for i, p in enumerate(paths):
        write(out, "model_config", f"{i}_{os.path.basename(os.path.dirname(p))}.json", open(p, "rb").read())
    base = json.load(open(paths[0]))
    variants = {
        "mistral": dict(base, model_type="mistral", sliding_window=4096),
        "qwen2": dict(base, model_type="qwen2", use_sliding_window=False),
        "head_dim": dict(base, head_dim=16, attention_bias=True),
        "pruned": dict(base, struprune_layers=[{"num_attention_heads": h, "num_key_value_heads": h // 2,
                                                "intermediate_size": 100 + h} for h in (8, 4, 2, 0, 8)]),
        "rope": dict(base, rope_parameters={"rope_type": "default", "rope_theta": 5e5}, bos_token_id=[1, 2]),
        "opt": {"model_type": "opt", "hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
                "ffn_dim": 128, "vocab_size": 100, "max_position_embeddings": 64, "do_layer_norm_before": False},
    }
    for name, cfg in variants.items():
        write(out, "model_config", f"v_{name}.json", json.dumps(cfg))


def cut_tokenizer(j, keep):
    m = j["model"]
    vocab = {p: i for p, i in m["vocab"].items() if i < keep}
    merges = []
    for mg in m.get("merges", []):
        a, b = mg if isinstance(mg, list) else mg.split(" ", 1)
        if a in vocab and b in vocab and a + b in vocab:
            merges.append(mg)
    m = dict(m, vocab=vocab, merges=merges)
    added = [a for a in j.get("added_tokens", []) if a["id"] < keep]
    return dict(j, model=m, added_tokens=added)


def tokenizer_seeds(shared, out):
    paths = sorted(set(glob.glob(os.path.join(shared, "models/*/tokenizer.json")) +
                       glob.glob(os.path.join(shared, "data/tokenizers/*/tokenizer.json"))))
    for i, p in enumerate(paths):
        j = json.load(open(p, encoding="utf-8"))
        for keep in (300, 1200):
            name = f"{i}_{os.path.basename(os.path.dirname(p))}_{keep}.json"
            write(out, "tokenizer_json", name, json.dumps(cut_tokenizer(j, keep), ensure_ascii=False))
    tiny = {"model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2, "<unk>": 3}, "merges": [["a", "b"]],
                      "unk_token": "<unk>", "byte_fallback": False},
            "normalizer": {"type": "Sequence", "normalizers": [{"type": "NFC"}, {"type": "Prepend", "prepend": "_"}]},
            "pre_tokenizer": {"type": "Split", "pattern": {"Regex": "\\s+"}, "behavior": "Isolated"},
            "decoder": {"type": "Sequence", "decoders": [{"type": "Fuse"}, {"type": "Strip", "content": " ",
                                                                               "start": 1, "stop": 0}]},
            "added_tokens": [{"id": 4, "content": "<s>", "special": True}]}
    write(out, "tokenizer_json", "tiny.json", json.dumps(tiny))


def yaml_seeds(repo, out):
    for p in sorted(glob.glob(os.path.join(repo, "configs/*.yaml"))):
        write(out, "config_yaml", os.path.basename(p), open(p, "rb").read())


def journal_layer(added_bias=False):
    """Layer 0 of the tiny LLaMA: 1 of 2 KV groups and 3 of 8 neurons removed -> shape [2, 1, 5]."""
    f32 = lambda n: struct.pack(f"<{n}f", *[0.25 * (i % 7) for i in range(n)])
    t = {
        "attention_keep": ("U8", [2], bytes([1, 0])),
        "mlp_keep": ("U8", [8], bytes([1, 0, 1, 1, 0, 1, 0, 1])),
        "attention_scores": ("F64", [2], struct.pack("<2d", 2.5, 0.5)),
        "mlp_scores": ("F64", [8], struct.pack("<8d", *range(8))),
        "attn_norm_weight": ("F32", [16], f32(16)),
        "mlp_norm_weight": ("F32", [16], f32(16)),
        "o_weight": ("F32", [16, 8], f32(128)),
        "down_weight": ("F32", [16, 5], f32(80)),
    }
    if added_bias:
        t.update({"q_bias": ("F32", [8], f32(8)), "k_bias": ("F32", [4], f32(4)), "v_bias": ("F32", [4], f32(4)),
                  "o_bias": ("F32", [16], f32(16)), "down_bias": ("F32", [16], f32(16))})
    record = {"layer": 0, "prunable_params": 1152, "removed_params": 528, "shape": [2, 1, 5],
              "attention_error": 0.125, "mlp_error": "nan", "added_bias": [added_bias, added_bias],
              "derived": ["q_weight", "k_weight", "v_weight", "gate_weight", "up_weight"]}
    return record, t


def journal_input(kind, record=None, tensors=None):
    """The fuzzer's input: 0 inputs.json, 1 pass1.json, 2 [u32 length][layer JSON][safetensors]."""
    if kind == 0:
        return b"\x00" + json.dumps(record).encode()
    if kind == 1:
        return b"\x01" + json.dumps(record).encode()
    j = json.dumps(record).encode()
    return b"\x02" + struct.pack("<I", len(j)) + j + safetensors_bytes(tensors)


def journal_seeds(out):
    inputs = {"format": 2, "inputs": {"prune.sparsity": "0.3", "version": "0.1.0 (git 0123456789ab)",
                                      "device": "cpu, 8 threads", "calibration batch (effective)": "4"}}
    pass1 = {"allocation": {"removed": [1, 3, 1, 3], "budget": 1056, "removed_params": 1056, "total_params": 2304,
                            "lambda": 0.5, "iterations": 12, "primal_residual": 1e-5, "dual_residual": "inf",
                            "converged": True},
             "before": [{"name": "wikitext2", "windows": 4, "tokens": 508, "mean_nll": 2.5, "ppl": 12.18}],
             "pass1_seconds": 1.5, "allocation_seconds": 0.25, "eval_seconds": 0.125}
    write(out, "journal", "inputs.bin", journal_input(0, inputs))
    write(out, "journal", "pass1.bin", journal_input(1, pass1))
    for bias in (False, True):
        write(out, "journal", f"layer_bias{int(bias)}.bin", journal_input(2, *journal_layer(bias)))


def main():
    repo, shared, out = sys.argv[1:4]
    safetensors_seeds(repo, out)
    model_config_seeds(repo, shared, out)
    if os.path.isdir(shared):
        tokenizer_seeds(shared, out)
    yaml_seeds(repo, out)
    journal_seeds(out)


if __name__ == "__main__":
    main()
