#!/usr/bin/env bash
# Issue 11's speed benchmark on one H200, in one device call: bench/speed.py prunes a LLaMA-2-7B-shaped
# synthetic model (4 layers) and ref-llama at 20/30/50% and runs `struprune-dist bench` on each compact
# checkpoint against its dense model (batch 1 and 16, bf16) -> $OUT/speed/speed.{md,json}. Run through
# launch/device/carried.sh after `launch/device/pack.sh build/cuda ref-llama src/cli/struprune-dist`:
#   launch/device/carried.sh bash launch/device/speed.sh [extra bench/speed.py options]
set -uo pipefail
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader | tee "$OUT/gpu.txt"
timeout 540 python3 bench/speed.py --bin "$BIN/struprune-dist" --shared "$STRUPRUNE_SHARED_DIR" --out "$OUT/speed" "$@"
rc=$?
rm -rf "$OUT"/speed/runs/*/model "$OUT"/speed/models  # checkpoints: too large to bring back
echo "speed.py rc=$rc"
exit $rc
