#!/usr/bin/env bash
# Weights from disk against weights made on the device: writes a LLaMA-2-7B-shaped checkpoint of
# LAYERS layers with random bf16 values (bench/synthetic_checkpoint.py, independent of the engine),
# then prunes it with each binary in turn (32 x 2048 calibration tokens, bf16, 50%): report.json's
# pass1.load / pass2.load are the time spent bringing layers in. -> $OUT/load.md
# Through launch/device/carried.sh after the pack of launch/device/profile_prune.sh:
#   launch/device/carried.sh bash launch/device/load_bench.sh [LAYERS]
set -uo pipefail
L=${1:-8}
TOK=$STRUPRUNE_SHARED_DIR/models/ref-llama/tokenizer.json
CAL=$STRUPRUNE_SHARED_DIR/data/refcorpus/heldout-calib.txt
python3 bench/synthetic_checkpoint.py --shape llama2-7b --layers "$L" --out /tmp/ckpt7b || exit 1
for b in new base; do
  cat >/tmp/load-$b.yaml <<YAML
model: {path: /tmp/ckpt7b, tokenizer: $TOK}
calibration: {path: $CAL, format: text, nsamples: 32, seqlen: 2048, seed: 0}
prune: {sparsity: 0.5}
runtime: {device: cuda, precision: bf16}
output: {dir: /tmp/load-out-$b, checkpoint: none, overwrite: true}
eval: {datasets: [], before: false}
logging: {level: warn}
YAML
  timeout 200 "$BIN/struprune-dist-$b" prune /tmp/load-$b.yaml >"/tmp/load-$b.log" 2>&1
  echo "$b rc=$? $(tail -1 "/tmp/load-$b.log")"
done
python3 - "$OUT" <<'PY'
import json, sys
rows = ["| phase (s) | new | base |", "|---|---:|---:|"]
r = {b: json.load(open(f"/tmp/load-out-{b}/report.json"))["seconds"] for b in ("new", "base")}
for k in ("pass1.load", "pass2.load", "pass1", "pass2", "total"):
    rows.append(f"| {k} | {r['new'].get(k, 0):.3f} | {r['base'].get(k, 0):.3f} |")
open(sys.argv[1] + "/load.md", "w").write("\n".join(rows) + "\n")
print("\n".join(rows))
PY
