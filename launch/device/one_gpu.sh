#!/usr/bin/env bash
# One device call for issue 9's one-GPU checks with binaries built here (through carried.sh after
#   PACK_EXTRA= launch/device/pack.sh build/cuda ref-llama build/cuda/src/cli/struprune-dist=struprune-dist-new \
#     OLD=struprune-dist-base tests/prune/test_prune tests/kernels/test_linalg_gpu tests/model/test_layer_prefetch tests/io/test_io):
# the GPU tests (cuda variants), ref-llama's quality table on the GPU, the LLaMA-2-7B-shaped prune of
# LAYERS layers (profile_prune.sh, new binary only) and the checkpoint read-ahead (load_bench.sh).
# STEPS picks a subset: tests quality profile load. At most 8 files under $OUT.
set -uo pipefail
cd "$(dirname "$0")/../.."
L=${1:-32}
STEPS=${STEPS:-tests quality profile load}
has() { [[ " $STEPS " == *" $1 "* ]]; }
if has tests; then
  for t in test_linalg_gpu test_layer_prefetch test_io "test_prune --gtest_filter=*/cuda0"; do
    echo "== $t" >>"$OUT/tests.txt"
    timeout 200 $BIN/$t --gtest_brief=1 >>"$OUT/tests.txt" 2>&1
    echo "$t rc=$? $(tail -1 "$OUT/tests.txt")"
  done
fi
if has quality; then
  R=$STRUPRUNE_SHARED_DIR/data/refcorpus
  timeout 240 python3 bench/quality.py --bin "$BIN/struprune-dist-new" --model "$STRUPRUNE_SHARED_DIR/models/${QMODEL:-ref-llama}" \
    --calib "$R/heldout-calib.txt" --eval "$R/heldout-eval.txt" --out /tmp/quality --device cuda >/tmp/quality.log 2>&1
  echo "quality rc=$?"; tail -15 /tmp/quality.log
  cp /tmp/quality/*.json "$OUT/" 2>/dev/null
fi
has profile && BASE=0 bash launch/device/profile_prune.sh "$L" "${@:2}"
has load && bash launch/device/load_bench.sh 8
