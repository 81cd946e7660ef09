#!/usr/bin/env bash
# One short device call (through carried.sh after pack.sh with struprune-dist-new, test_linalg_gpu,
# test_prune and bench/bench_linalg): the GPU linear-algebra and pruning tests, the OBS solves at real
# widths (bench_linalg: the inverse against the two solves it replaced), and ref-llama's structprune
# (admm) quality on the GPU. -> $OUT/tests.txt, $OUT/linalg.json, $OUT/quality*.json
set -uo pipefail
cd "$(dirname "$0")/../.."
for t in test_linalg_gpu "test_prune --gtest_filter=*/cuda0"; do
  echo "== $t" >>"$OUT/tests.txt"
  timeout 200 $BIN/$t --gtest_brief=1 >>"$OUT/tests.txt" 2>&1
  echo "$t rc=$? $(tail -1 "$OUT/tests.txt")"
done
grep -B3 -A6 "Failure" "$OUT/tests.txt" | head -40
timeout 120 "$BIN/bench_linalg" --n 4096 11008 28672 --json "$OUT/linalg.json"
R=$STRUPRUNE_SHARED_DIR/data/refcorpus
timeout 120 python3 bench/quality.py --bin "$BIN/struprune-dist-new" --model "$STRUPRUNE_SHARED_DIR/models/ref-llama" \
  --calib "$R/heldout-calib.txt" --eval "$R/heldout-eval.txt" --out /tmp/quality --device cuda \
  --methods "structprune (admm)" >/tmp/quality.log 2>&1
echo "quality rc=$?"; tail -4 /tmp/quality.log
cp /tmp/quality/*.json "$OUT/" 2>/dev/null
