#!/usr/bin/env bash
# On the GPU (through carried.sh): ref-llama pruned with the hidden states on the device and in host
# memory (runtime.hidden_states), bf16, 32 calibration windows in batches of 4: masks.h5's datasets and
# the perplexity after must be the same; the report's peaks show what host residency saves.
# -> $OUT/host_states.txt
set -uo pipefail
M=$STRUPRUNE_SHARED_DIR/models/ref-llama
R=$STRUPRUNE_SHARED_DIR/data/refcorpus
for where in device host; do
  timeout 120 "$BIN/struprune-dist-new" prune configs/ref-llama.yaml --set model.path="$M" \
    --set calibration.path="$R/heldout-calib.txt" --set calibration.nsamples=32 --set calibration.batch=4 \
    --set runtime.precision=bf16 --set runtime.hidden_states=$where --set output.dir=/tmp/hs-$where \
    --set output.checkpoint=none --set prune.metric=obs \
    --set "eval.datasets=[{name: heldout, path: $R/heldout-eval.txt, format: text}]" --set eval.max_windows=8 \
    >/tmp/hs-$where.log 2>&1
  echo "$where rc=$?"
done | tee "$OUT/host_states.txt"
python3 - >>"$OUT/host_states.txt" 2>&1 <<'PY'
import json
for w in ("device", "host"):
    r = json.load(open(f"/tmp/hs-{w}/report.json"))
    print(w, "ppl after", repr(r["perplexity_after"]["heldout"]["perplexity"]), "peak", r["runtime"]["peak_memory_bytes_per_rank"],
          "states", r["runtime"]["hidden_states"], "seconds", round(r["seconds"]["total"], 2))
PY
python3 launch/device/compare_masks.py /tmp/hs-device/masks.h5 /tmp/hs-host/masks.h5 "device vs host" >>"$OUT/host_states.txt" 2>&1
cmp -s /tmp/hs-device/masks.h5 /tmp/hs-host/masks.h5; echo "masks.h5 bytes equal (cmp rc, HDF5 metadata may differ): $?" >>"$OUT/host_states.txt"
tail -3 /tmp/hs-host.log
