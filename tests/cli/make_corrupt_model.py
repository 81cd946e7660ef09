#!/usr/bin/env python3
"""Writes a broken copy of examples/stories260K into DIR, one defect per KIND (standard library only).

usage: make_corrupt_model.py KIND SRC_MODEL_DIR DIR
KIND: truncated | header_len | overlap | dtype_shape | offsets_out_of_range | index_missing_tensor |
      index_missing_shard | index_outside | index_absolute | unsupported_arch | config_heads |
      config_mismatch | nan_weight | huge_norm | tok_unknown_model | tok_broken_merges | tok_missing_vocab
"""
import json, os, shutil, struct, sys


def read_st(path):
    raw = open(path, "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    return json.loads(raw[8:8 + n]), raw[8 + n:]


def write_st(path, header, data):
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    open(path, "wb").write(struct.pack("<Q", len(h)) + h + data)


def main():
    kind, src, dst = sys.argv[1:4]
    os.makedirs(dst, exist_ok=True)
    for f in ("config.json", "vocab.json"):
        shutil.copy(os.path.join(src, f), dst)
    st = os.path.join(dst, "model.safetensors")
    header, data = read_st(os.path.join(src, "model.safetensors"))
    names = sorted(k for k in header if k != "__metadata__")
    if kind == "truncated":
        raw = open(os.path.join(src, "model.safetensors"), "rb").read()
        open(st, "wb").write(raw[: len(raw) // 2])
        return
    if kind == "header_len":
        write_st(st, header, data)
        raw = bytearray(open(st, "rb").read())
        raw[:8] = struct.pack("<Q", len(raw) + 100)
        open(st, "wb").write(bytes(raw))
        return
    if kind == "overlap":
        a, b = "model.layers.0.input_layernorm.weight", "model.layers.0.post_attention_layernorm.weight"
        header[b]["data_offsets"] = list(header[a]["data_offsets"])
    elif kind == "dtype_shape":
        header["model.layers.1.self_attn.q_proj.weight"]["dtype"] = "F16"
    elif kind == "offsets_out_of_range":
        e = header["model.norm.weight"]["data_offsets"]
        header["model.norm.weight"]["data_offsets"] = [len(data) - 4, len(data) - 4 + (e[1] - e[0])]
    elif kind == "nan_weight":
        b = header["model.layers.2.mlp.down_proj.weight"]["data_offsets"][0]
        data = data[:b] + struct.pack("<f", float("nan")) + data[b + 4:]
    elif kind == "huge_norm":  # finite weights whose logits overflow float: NaN NLL
        b, e = header["model.norm.weight"]["data_offsets"]
        data = data[:b] + struct.pack("<f", 3e38) * ((e - b) // 4) + data[e:]
    elif kind in ("index_missing_tensor", "index_missing_shard", "index_outside", "index_absolute"):
        shard = "model-00001-of-00001.safetensors"
        write_st(os.path.join(dst, shard), header, data)
        weight_map = {n: shard for n in names}
        if kind == "index_missing_tensor":
            weight_map["model.layers.0.mlp.up_proj.weight"] = shard
            del header["model.layers.0.mlp.up_proj.weight"]
            write_st(os.path.join(dst, shard), header, data)
        elif kind == "index_missing_shard":
            weight_map["model.layers.4.mlp.up_proj.weight"] = "model-00002-of-00002.safetensors"
        else:  # a valid shard outside the model folder: only the name check keeps it from being opened
            outside = os.path.abspath(os.path.join(dst, "..", os.path.basename(dst) + "-outside.safetensors"))
            write_st(outside, header, data)
            name = "../" + os.path.basename(outside) if kind == "index_outside" else outside
            weight_map["model.layers.3.self_attn.k_proj.weight"] = name
        json.dump({"metadata": {}, "weight_map": weight_map}, open(os.path.join(dst, "model.safetensors.index.json"), "w"))
        return
    elif kind in ("unsupported_arch", "config_heads", "config_mismatch"):
        cfg = json.load(open(os.path.join(src, "config.json")))
        if kind == "unsupported_arch":
            cfg["model_type"] = "gpt_neox"
        elif kind == "config_heads":
            cfg["num_attention_heads"] = 6  # does not divide hidden_size 64
        else:
            cfg["intermediate_size"] = 128  # the tensors say 172
        json.dump(cfg, open(os.path.join(dst, "config.json"), "w"))
    elif kind.startswith("tok_"):  # a tokenizer.json beside the weights takes precedence over vocab.json
        vocab = {p: i for i, (p, _) in enumerate(json.load(open(os.path.join(src, "vocab.json"))))}
        model = {"type": "BPE", "vocab": vocab, "merges": []}
        if kind == "tok_unknown_model":
            model["type"] = "WordPiece"
        elif kind == "tok_broken_merges":
            model["merges"] = ["zzz q"]  # names a piece the vocabulary lacks
        else:
            del model["vocab"]
        json.dump({"version": "1.0", "model": model}, open(os.path.join(dst, "tokenizer.json"), "w"))
    else:
        sys.exit(f"unknown kind {kind}")
    write_st(st, header, data)


if __name__ == "__main__":
    main()
