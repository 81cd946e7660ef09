#!/usr/bin/env bash
# The shortest device call for a change to the pruning ops: their GPU tests (test_linalg_gpu: every
# CUDA body against the CPU's) and the LLaMA-2-7B-shaped prune cut to LAYERS decoder layers (128 x 2048
# calibration tokens, bf16, 50%), report.json's phases printed. Builds only those two targets.
#   carry [".device/ranks"]: bash launch/device/quick_check.sh [LAYERS]
set -uo pipefail
L=${1:-8}
R=.device/ranks
mkdir -p /tmp/dd && tar -xJf $R/devdata.tar.xz -C /tmp/dd
export DEBS=$R/debs DEVDATA=/tmp/dd/devdata
TAG=quick TARGETS="struprune-dist test_linalg_gpu" BUILD_LIMIT=150 . launch/device/build_targets.sh
nvidia-smi --query-gpu=name --format=csv,noheader | tee "$OUT/gpu.txt"
timeout 40 "$B/tests/kernels/test_linalg_gpu" >"$OUT/test_linalg_gpu.log" 2>&1
say "test_linalg_gpu rc=$?"
grep -E "^\[  (PASSED|FAILED) |FAILED TEST" "$OUT/test_linalg_gpu.log" | head
D=$STRUPRUNE_SHARED_DIR
timeout 100 python3 bench/prune_scaling.py --bin "$B/src/cli/struprune-dist" --tokenizer "$D/models/ref-llama/tokenizer.json" \
  --calib "$D/data/refcorpus/heldout-calib.txt" --out /tmp/speed --shapes llama2-7b --layers "$L" --nsamples 128 \
  --seqlen 2048 --timeout 95 >"$OUT/prune-$L.txt" 2>&1
say "prune rc=$?"
cp /tmp/speed/*.json "$OUT/" 2>/dev/null
grep phases "$OUT/prune-$L.txt" | cut -c1-2200
