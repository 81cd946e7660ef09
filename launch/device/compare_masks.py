#!/usr/bin/env python3
"""Compares the datasets of two masks.h5 files (keep masks, scores, allocation): prints how many
differ. Used by the device scripts (host_states_check.sh, two_gpu.sh); without h5py it says so.
usage: compare_masks.py A.h5 B.h5 LABEL"""
import sys

a_path, b_path, label = sys.argv[1:4]
try:
    import h5py, numpy as np
except ImportError:
    print(f"{label}: no h5py here; compare the files otherwise"); sys.exit(0)
a, b = h5py.File(a_path), h5py.File(b_path)
names = []
a.visititems(lambda n, o: names.append(n) if isinstance(o, h5py.Dataset) else None)
diff = [n for n in names if n not in b or not np.array_equal(a[n][()], b[n][()])]
print(f"masks.h5 {label}: {len(names)} datasets, {len(diff)} differ {diff[:5]}")
