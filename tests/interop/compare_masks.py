#!/usr/bin/env python3
"""Two masks.h5 files (e.g. the CPU run and the GPU run of the same config) keep the same groups.

  compare_masks.py A.h5 B.h5      exit 0 when every layer's attention_keep and mlp_keep are equal
"""
import sys

import h5py
import numpy as np


def main():
    a, b = h5py.File(sys.argv[1], "r"), h5py.File(sys.argv[2], "r")
    layers = sorted(a["layers"].keys(), key=int)
    assert layers == sorted(b["layers"].keys(), key=int), "different layer sets"
    diff = 0
    for l in layers:
        for m in ("attention_keep", "mlp_keep"):
            x, y = np.asarray(a[f"layers/{l}/{m}"]), np.asarray(b[f"layers/{l}/{m}"])
            assert x.dtype == np.bool_ and y.dtype == np.bool_, f"layer {l} {m}: not h5py bool"
            d = int((x != y).sum())
            diff += d
            print(f"layer {l} {m}: kept {int(x.sum())} / {int(y.sum())} of {x.size}, {d} differ")
    print(f"masks {'IDENTICAL' if diff == 0 else 'DIFFER'}: {diff} group(s) differ; removed params "
          f"{a.attrs['removed_params']} / {b.attrs['removed_params']}")
    sys.exit(0 if diff == 0 else 1)


if __name__ == "__main__":
    main()
