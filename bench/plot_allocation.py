#!/usr/bin/env python3
"""Per-layer kept fraction of attention units and MLP neurons, one line per method, from masks.h5.

  bench/plot_allocation.py --out docs/img/allocation.png "structprune=out/a/masks.h5" "flap=out/b/masks.h5" ...

Each argument is LABEL=MASKS_H5 (struprune-dist's masks.h5, docs/formats.md). Needs h5py + matplotlib.
"""
import argparse

import h5py
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def kept_fractions(path):
    with h5py.File(path, "r") as f:
        n = int(f.attrs["n_layers"])
        attn, mlp = [], []
        for i in range(n):
            a, m = np.asarray(f[f"layers/{i}/attention_keep"]), np.asarray(f[f"layers/{i}/mlp_keep"])
            attn.append(a.mean() if a.size else np.nan)
            mlp.append(m.mean() if m.size else np.nan)
        title = f"{f.attrs['model_path'].rstrip('/').split('/')[-1]}, target sparsity {f.attrs['target_sparsity']:.0%}"
    return np.array(attn), np.array(mlp), title


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True)
    ap.add_argument("runs", nargs="+", help="LABEL=MASKS_H5")
    args = ap.parse_args()
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), sharey=True)
    title = ""
    for run in args.runs:
        label, _, path = run.partition("=")
        attn, mlp, title = kept_fractions(path)
        layers = np.arange(len(attn))
        axes[0].plot(layers, attn, marker="o", label=label)
        axes[1].plot(layers, mlp, marker="o", label=label)
    for ax, what in zip(axes, ("attention units (KV groups / heads)", "MLP neurons")):
        ax.set_title(f"kept fraction of {what}")
        ax.set_xlabel("layer")
        ax.set_ylim(0, 1.05)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("kept fraction")
    axes[1].legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(args.out, dpi=120)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
