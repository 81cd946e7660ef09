#!/usr/bin/env bash
# One device call comparing two struprune-dist binaries on the same GPU: the LLaMA-2-7B-shaped prune
# (synthetic weights, 128 x 2048 calibration tokens, bf16, 50%) cut to LAYERS decoder layers (a layer's
# work does not depend on the depth, except the KL probes), each binary in turn, report.json's
# per-phase seconds side by side; then EXTRA runs of the new binary with --set options (e.g. a
# coarser prune.obs_step: a greedy bound by per-update overhead halves, one bound by arithmetic not).
# Through launch/device/carried.sh after
#   PACK_EXTRA="models/ref-llama/tokenizer.json" launch/device/pack.sh build/cuda - \
#       build/cuda/src/cli/struprune-dist=struprune-dist-new OLD_BINARY=struprune-dist-base
#   launch/device/carried.sh bash launch/device/profile_prune.sh LAYERS ["--set a=b" ...]   (BASE=0: no baseline)
set -uo pipefail
L=${1:-8}
shift || true
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader | tee "$OUT/gpu.txt"
TOK=$STRUPRUNE_SHARED_DIR/models/ref-llama/tokenizer.json
CAL=$STRUPRUNE_SHARED_DIR/data/refcorpus/heldout-calib.txt
run() {  # tag binary [--set ...]
  local tag=$1 bin=$2
  shift 2
  timeout 280 python3 bench/prune_scaling.py --bin "$BIN/$bin" --tokenizer "$TOK" --calib "$CAL" --out /tmp/prof \
    --shapes llama2-7b --layers "$L" --nsamples 128 --seqlen 2048 --timeout 270 --tag="-$tag" "$@" \
    >"$OUT/run-$tag.txt" 2>&1
  echo "$tag rc=$?"
  # The log's first and last lines: their timestamps against the run's start and end in run-$tag.txt.
  for f in /tmp/prof/*-"$tag".log; do { head -4 "$f"; tail -3 "$f"; } >>"$OUT/run-$tag.txt"; done
  grep -hE "started|ended|^\[" "$OUT/run-$tag.txt" | cut -c1-160
}
run new struprune-dist-new
[ "${BASE:-1}" = 1 ] && run base struprune-dist-base  # BASE=0: the new binary alone
i=0
for s in "$@"; do run "set$((++i))" struprune-dist-new --set "$s"; done
python3 - "$OUT" <<'PY'
import glob, json, os, sys
out = sys.argv[1]
runs = {}
for f in sorted(glob.glob("/tmp/prof/scaling-np1-*.json")):
    tag = f.rsplit("-", 1)[1][:-5]
    rows = [r for r in json.load(open(f))["rows"] if r.get("status") == "ok"]
    if rows: runs[tag] = rows[0]
keys = sorted({k for r in runs.values() for k in r["seconds"]})
lines = ["| phase | " + " | ".join(runs) + " |", "|---|" + "---:|" * len(runs)]
for k in keys:
    lines.append(f"| {k} | " + " | ".join(f"{r['seconds'].get(k, 0):.3f}" for r in runs.values()) + " |")
lines.append("| wall | " + " | ".join(f"{r['wall_s']:.2f}" for r in runs.values()) + " |")
lines.append("| peak GiB | " + " | ".join(f"{max(r['peak_bytes'])/2**30:.2f}" for r in runs.values()) + " |")
open(os.path.join(out, "phases.md"), "w").write("\n".join(lines) + "\n")
json.dump(runs, open(os.path.join(out, "phases.json"), "w"), indent=1)
print("\n".join(lines))
PY
