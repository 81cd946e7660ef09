#!/usr/bin/env bash
# Issue 28's quality run on the device machine, one model per call (a call carries one model):
# struprune-dist's default and the allocation refinement (bench/quality.py) at MODEL_SPARSITIES,
# then ../shared/peers/tyr_like.py beside it on the same calibration text (PEERS: a folder holding
# tyr_like.py and peer_baselines.py, carried in). Logs and JSON under $OUT.
#   DEBS=dir-of-debs DEVDATA=shared-subset MODEL=ref-llama PEERS=dir [SPARSITIES="0.2 0.5"] [TYR=0.2,0.5] \
#     [VARIANTS="refine:prune.refine_rounds=2"] [EQUAL_SIZE=1] bash launch/device/refine_quality.sh
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
TAG=refine_quality
# shellcheck source=launch/device/build_targets.sh
. launch/device/build_targets.sh
nvidia-smi -L >"$OUT/env.txt" 2>&1
DD="$STRUPRUNE_SHARED_DIR"
M="$DD/models/$MODEL"
CAL="$DD/data/refcorpus/heldout-calib.txt"
EV="$DD/data/refcorpus/heldout-eval.txt"
VARGS=()
for v in ${VARIANTS:-refine:prune.refine_rounds=2}; do VARGS+=(--variant "$v"); done
# shellcheck disable=SC2086
timeout "${QUALITY_LIMIT:-240}" python3 bench/quality.py --bin "$B/src/cli/struprune-dist" --model "$M" --calib "$CAL" \
  --eval "$EV" --out "$OUT/quality" --device cuda --sparsity ${SPARSITIES:-0.2 0.3 0.5 0.6 0.7} \
  --methods "structprune (admm)" "${VARGS[@]}" ${EQUAL_SIZE:+--equal-size} >"$OUT/quality.txt" 2>&1
say "quality rc=$?"
tail -8 "$OUT/quality.txt" | tee -a "$OUT/summary.txt"
if [ -n "${TYR:-}" ] && [ -f "${PEERS:-}/tyr_like.py" ]; then
  timeout "${TYR_LIMIT:-240}" python3 "$PEERS/tyr_like.py" --model "$M" --calib "$CAL" --eval "$EV" --sparsities "$TYR" \
    --band-below 0 --inputs accum --device cuda --out "$OUT/tyr-$MODEL.json" >"$OUT/tyr.txt" 2>&1
  say "tyr_like rc=$?"
  grep -E "ppl|final" "$OUT/tyr.txt" | tail -12 | tee -a "$OUT/summary.txt"
fi
