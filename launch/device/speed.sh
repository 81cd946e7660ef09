#!/usr/bin/env bash
# Issue 11's speed benchmark on one H200, in one device call: bench/speed.py prunes a LLaMA-2-7B-shaped
# synthetic model (4 layers) and ref-llama at 20/30/50% and runs `struprune-dist bench` on each compact
# checkpoint against its dense model (batch 1 and 16, bf16) -> $OUT/speed/speed.{md,json}; then the
# perplexity cost of prune.round_to / uniform_shape on ref-llama (bench/quality.py) -> $OUT/roundto. Run through
# launch/device/carried.sh after `launch/device/pack.sh build/cuda ref-llama src/cli/struprune-dist`:
#   launch/device/carried.sh bash launch/device/speed.sh [extra bench/speed.py options]
set -uo pipefail
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader | tee "$OUT/gpu.txt"
timeout 400 python3 bench/speed.py --bin "$BIN/struprune-dist" --shared "$STRUPRUNE_SHARED_DIR" --out "$OUT/speed" "$@"
rc=$?
rm -rf "$OUT"/speed/runs/*/model "$OUT"/speed/models  # checkpoints: too large to bring back
echo "speed.py rc=$rc"
# What prune.round_to / prune.uniform_shape cost in perplexity: ref-llama 50%, 16 x 512 calibration,
# held-out windows of 512 tokens -> $OUT/roundto/quality.{md,json}.
D=$STRUPRUNE_SHARED_DIR/data/refcorpus
timeout 150 python3 bench/quality.py --bin "$BIN/struprune-dist" --model "$STRUPRUNE_SHARED_DIR/models/ref-llama" \
  --calib $D/heldout-calib.txt --eval $D/heldout-eval.txt --out "$OUT/roundto" --sparsity 0.5 --nsamples 16 \
  --seqlen 512 --eval-seqlen 512 --device cuda --methods "structprune (admm)" \
  --variant "round_to 8:prune.round_to=8" --variant "round_to 64:prune.round_to=64" \
  --variant "round_to 128:prune.round_to=128" --variant "uniform_shape:prune.uniform_shape=true" \
  --variant "uniform_shape + round_to 8:prune.uniform_shape=true,prune.round_to=8" >"$OUT/roundto.log" 2>&1
echo "quality (round_to) rc=$?"
rm -rf "$OUT"/roundto/runs/*/model
exit $rc
