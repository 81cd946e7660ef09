#!/usr/bin/env python3
"""masks.h5 as docs/formats.md describes it, read with h5py (an HDF5 client independent of ours).

  check_masks_layout.py MASKS_H5 CONFIG_JSON_OF_THE_PRUNED_MODEL_OR_- [N_LAYERS]

Checks every documented root attribute and, per layer, the datasets (bool keep masks, float64
scores of the same length) and attributes, and that the kept counts match the layer attributes
(and the pruned config.json when one is given). Prints the per-layer kept fractions.
"""
import json
import sys

import h5py
import numpy as np

ROOT_ATTRS = {
    "format": str, "format_version": np.integer, "method": str, "metric": str, "allocation": str,
    "normalize": str, "reconstruct": np.bool_, "refit_target": str, "bias_compensation": np.bool_,
    "attention_unit": str, "target_sparsity": np.floating, "achieved_sparsity": np.floating,
    "prunable_params": np.integer, "removed_params": np.integer, "lambda": np.floating, "tau": np.floating,
    "admm_iterations": np.integer, "admm_primal_residual": np.floating, "admm_dual_residual": np.floating,
    "admm_converged": np.bool_, "n_layers": np.integer, "config": str, "model_path": str,
    "model_identity": str, "version": str, "ranks": np.integer, "device": str,
}
LAYER_ATTRS = ("sparsity", "prunable_params", "removed_params", "num_attention_heads", "num_key_value_heads",
               "intermediate_size")


def main():
    f = h5py.File(sys.argv[1], "r")
    cfg = json.load(open(sys.argv[2])) if len(sys.argv) > 2 and sys.argv[2] != "-" else None
    errors = []
    for name, kind in ROOT_ATTRS.items():
        if name not in f.attrs:
            errors.append(f"root attribute {name} missing")
        elif not isinstance(f.attrs[name], kind):
            errors.append(f"root attribute {name}: {type(f.attrs[name]).__name__}, expected {kind.__name__}")
    if f.attrs.get("format") != "struprune-masks":
        errors.append("format is not struprune-masks")
    n = int(f.attrs["n_layers"])
    if sorted(f["layers"].keys(), key=int) != [str(i) for i in range(n)]:
        errors.append(f"layers/ holds {sorted(f['layers'].keys())}, expected 0..{n - 1}")
    removed = 0
    per_layer = cfg.get("struprune_layers") if cfg else None
    for i in range(n):
        g = f[f"layers/{i}"]
        for m in ("attention", "mlp"):
            keep, scores = g[f"{m}_keep"], g[f"{m}_scores"]
            if keep.dtype != np.bool_:
                errors.append(f"layers/{i}/{m}_keep is {keep.dtype}, expected bool")
            if scores.dtype != np.float64 or scores.shape != keep.shape:
                errors.append(f"layers/{i}/{m}_scores is {scores.dtype}{scores.shape}, expected float64{keep.shape}")
        for a in LAYER_ATTRS:
            if a not in g.attrs:
                errors.append(f"layers/{i} attribute {a} missing")
        ka, km = int(np.sum(g["attention_keep"])), int(np.sum(g["mlp_keep"]))
        if ka != g.attrs["num_key_value_heads"] and f.attrs["attention_unit"] == "kv_groups":
            errors.append(f"layers/{i}: {ka} KV groups kept, attribute says {g.attrs['num_key_value_heads']}")
        if km != g.attrs["intermediate_size"]:
            errors.append(f"layers/{i}: {km} neurons kept, attribute says {g.attrs['intermediate_size']}")
        if per_layer and per_layer[i]["intermediate_size"] != km:
            errors.append(f"layers/{i}: config.json has {per_layer[i]['intermediate_size']} neurons, masks {km}")
        removed += int(g.attrs["removed_params"])
        print(f"layer {i}: attention kept {ka}/{g['attention_keep'].size}, mlp kept {km}/{g['mlp_keep'].size}")
    if removed != int(f.attrs["removed_params"]):
        errors.append(f"layers remove {removed} parameters, root says {int(f.attrs['removed_params'])}")
    for e in errors:
        print("ERROR:", e)
    print("layout OK" if not errors else f"{len(errors)} error(s)")
    sys.exit(1 if errors else 0)


if __name__ == "__main__":
    main()
