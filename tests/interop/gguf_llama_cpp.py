#!/usr/bin/env python3
"""llama.cpp (through llama-cpp-python) as the independent reader of our GGUF export.

  gguf_llama_cpp.py compare GGUF REPORT_JSON DATASET IDS_NPY TEXT [--arch llama|deci] [--tol 1e-4]
      llama.cpp's perplexity over the windows our `eval` scored (REPORT_JSON: eval's report.json;
      IDS_NPY: `tokenize`'s ids of the same dataset, BOS first) must equal ours (relative difference
      < tol), and llama.cpp's tokenization of TEXT (BOS added) must equal IDS_NPY.
  gguf_llama_cpp.py edge-model SRC_DIR OUT_DIR
      A hand-pruned copy of the 5-layer stories260K that exercises every per-layer case of the deci
      architecture: layer 0 without attention, layer 2 without MLP, layer 3 with 2 of 4 KV groups and
      100 of 172 MLP channels, layer 4 with neither block. --biases: with attention_bias and mlp_bias
      (random biases on every projection; a removed block keeps its o_proj / down_proj bias).
"""
import argparse
import json
import math
import os
import struct
import sys

import numpy as np


def read_safetensors(path):
    b = open(path, "rb").read()
    n = struct.unpack("<Q", b[:8])[0]
    header = json.loads(b[8:8 + n])
    out = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        assert e["dtype"] == "F32", (name, e["dtype"])
        lo, hi = e["data_offsets"]
        out[name] = np.frombuffer(b[8 + n + lo:8 + n + hi], dtype=np.float32).reshape(e["shape"])
    return out


def write_safetensors(path, tensors):
    header, offset, blobs = {}, 0, []
    for name in sorted(tensors):
        a = np.ascontiguousarray(tensors[name], dtype=np.float32)
        header[name] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [offset, offset + a.nbytes]}
        offset += a.nbytes
        blobs.append(a.tobytes())
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def edge_model(src, out, biases=False):
    cfg = json.load(open(os.path.join(src, "config.json")))
    t = read_safetensors(os.path.join(src, "model.safetensors"))
    if biases:  # attention_bias + mlp_bias: every projection gets a bias (random, seeded)
        rng = np.random.default_rng(0)
        cfg["attention_bias"] = cfg["mlp_bias"] = True
        for name in list(t):
            if name.endswith("_proj.weight"):
                t[name[:-len("weight")] + "bias"] = (0.1 * rng.standard_normal(t[name].shape[0])).astype(np.float32)
    hd = cfg["hidden_size"] // cfg["num_attention_heads"]
    per_kv = cfg["num_attention_heads"] // cfg["num_key_value_heads"]
    layers = []
    for i in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{i}."
        heads, kv, ff = cfg["num_attention_heads"], cfg["num_key_value_heads"], cfg["intermediate_size"]
        if i in (0, 4):  # no attention
            for s in "qkvo":
                del t[p + f"self_attn.{s}_proj.weight"]
                if s != "o":  # o_proj's bias stays: the block's output is that bias
                    t.pop(p + f"self_attn.{s}_proj.bias", None)
            heads = kv = 0
        if i in (2, 4):  # no MLP
            for s in ("gate", "up", "down"):
                del t[p + f"mlp.{s}_proj.weight"]
                if s != "down":  # down_proj's bias stays: the block's output is that bias
                    t.pop(p + f"mlp.{s}_proj.bias", None)
            ff = 0
        if i == 3:  # KV groups 0 and 2, the first 100 MLP channels
            groups = [0, 2]
            q_rows = np.concatenate([np.arange((g * per_kv) * hd, (g + 1) * per_kv * hd) for g in groups])
            kv_rows = np.concatenate([np.arange(g * hd, (g + 1) * hd) for g in groups])
            t[p + "self_attn.q_proj.weight"] = t[p + "self_attn.q_proj.weight"][q_rows]
            t[p + "self_attn.k_proj.weight"] = t[p + "self_attn.k_proj.weight"][kv_rows]
            t[p + "self_attn.v_proj.weight"] = t[p + "self_attn.v_proj.weight"][kv_rows]
            t[p + "self_attn.o_proj.weight"] = t[p + "self_attn.o_proj.weight"][:, q_rows]
            t[p + "mlp.gate_proj.weight"] = t[p + "mlp.gate_proj.weight"][:100]
            t[p + "mlp.up_proj.weight"] = t[p + "mlp.up_proj.weight"][:100]
            t[p + "mlp.down_proj.weight"] = t[p + "mlp.down_proj.weight"][:, :100]
            if biases:
                for s, rows in (("q", q_rows), ("k", kv_rows), ("v", kv_rows)):
                    t[p + f"self_attn.{s}_proj.bias"] = t[p + f"self_attn.{s}_proj.bias"][rows]
                for s in ("gate", "up"):
                    t[p + f"mlp.{s}_proj.bias"] = t[p + f"mlp.{s}_proj.bias"][:100]
            heads, kv, ff = len(groups) * per_kv, len(groups), 100
        layers.append({"num_attention_heads": heads, "num_key_value_heads": kv, "intermediate_size": ff})
    cfg["struprune_layers"] = layers
    cfg["head_dim"] = hd
    os.makedirs(out, exist_ok=True)
    json.dump(cfg, open(os.path.join(out, "config.json"), "w"), indent=2)
    write_safetensors(os.path.join(out, "model.safetensors"), t)
    for f in ("vocab.json", "tokenizer.json"):
        if os.path.exists(os.path.join(src, f)):
            open(os.path.join(out, f), "wb").write(open(os.path.join(src, f), "rb").read())
    print(f"edge model: {out}: {layers}")


def compare(a):
    from gguf import GGUFReader
    from llama_cpp import Llama

    arch = GGUFReader(a.gguf).fields["general.architecture"].contents()
    print(f"{a.gguf}: general.architecture = {arch}")
    if a.arch and arch != a.arch:
        sys.exit(f"FAIL: architecture {arch}, expected {a.arch}")
    report = json.load(open(a.report))["eval"][a.dataset]
    seqlen, windows, ours = report["seqlen"], report["windows"], report["perplexity"]
    ids = np.load(a.ids).astype(np.int64)
    assert len(ids) >= windows * seqlen, (len(ids), windows, seqlen)
    # F32 K/V cache (the default F16 cache would round keys and values), all positions' logits.
    llm = Llama(model_path=a.gguf, n_ctx=seqlen, n_batch=seqlen, n_ubatch=seqlen, logits_all=True, verbose=False,
                type_k=0, type_v=0, n_threads=2, seed=0)
    total = 0.0
    for w in range(windows):
        x = ids[w * seqlen:(w + 1) * seqlen]
        llm.reset()
        llm.eval(x.tolist())
        logits = np.asarray(llm.scores[:seqlen], dtype=np.float64)
        m = logits.max(axis=1, keepdims=True)
        lse = (m[:, 0] + np.log(np.exp(logits - m).sum(axis=1)))[:-1]
        total += float((lse - logits[np.arange(seqlen - 1), x[1:]]).sum())
    theirs = math.exp(total / (windows * (seqlen - 1)))
    rel = abs(theirs - ours) / ours
    print(f"perplexity over {windows} windows of {seqlen}: ours {ours:.8f}, llama.cpp {theirs:.8f}, rel diff {rel:.2e}")
    ok = rel < a.tol
    text = open(a.text, encoding="utf-8").read()
    toks = llm.tokenize(text.encode("utf-8"), add_bos=True, special=False)
    same = list(toks) == ids.tolist()
    first = next((i for i, (p, q) in enumerate(zip(toks, ids.tolist())) if p != q), min(len(toks), len(ids)))
    print(f"tokenization of {a.text}: {len(toks)} llama.cpp ids, {len(ids)} ours, "
          + ("identical" if same else f"first difference at {first}: {toks[first:first + 8]} vs {ids[first:first + 8]}"))
    if not ok or not same:
        sys.exit("FAIL")
    print("ok")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("compare")
    for n in ("gguf", "report", "dataset", "ids", "text"):
        c.add_argument(n)
    c.add_argument("--arch", default="")
    c.add_argument("--tol", type=float, default=1e-4)
    e = sub.add_parser("edge-model")
    e.add_argument("src")
    e.add_argument("out")
    e.add_argument("--biases", action="store_true")
    a = ap.parse_args()
    if a.cmd == "compare":
        compare(a)
    else:
        edge_model(a.src, a.out, a.biases)


if __name__ == "__main__":
    main()
