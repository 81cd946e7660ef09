#!/usr/bin/env bash
# Issue 26's decode work on the device in one call: build, the GPU tests of the decode path (the ops
# against the CPU bodies, graph against op-by-op tokens, llama2.c's and transformers' references on
# CUDA), then bench/speed.py on the 7B shape (4 layers) at 50%, with the CUDA-graph decode and with
# runtime.cuda_graphs=false, and each dense decode against the HBM floor at the copy bandwidth
# bench_forward measured on this kind of card. -> $OUT/{summary.txt,tests.log,speed-*}
#   DEBS=dir DEVDATA=dir [STORIES=dir-holding-stories260K-hf] [CHECKS=regex] [SPEED=0] \
#     bash launch/device/decode_checks.sh
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
TAG=decode_checks
TARGETS="${TARGETS:-struprune-dist test_ops_gpu test_linalg_gpu test_model_reference test_family_reference test_phi3 test_prune}"
# shellcheck source=launch/device/build_targets.sh
. launch/device/build_targets.sh
[ -n "${STORIES:-}" ] && cp -r "$STORIES/stories260K-hf" "$STRUPRUNE_SHARED_DIR/models/" 2>/dev/null
nvidia-smi --query-gpu=name --format=csv,noheader | tee "$OUT/gpu.txt"
timeout "${TEST_LIMIT:-200}" ctest --test-dir "$B" -j 8 --timeout 180 --output-on-failure \
  -R "${CHECKS:-OpsGpu|DenseGpu|ModelReference.*cuda|FamilyReference.*cuda|Phi3|Pipeline.*cuda}" >"$OUT/tests.log" 2>&1
say "ctest rc=$?"
grep -E "tests passed|\(Failed\)|Timeout|Not Run" "$OUT/tests.log" | head -20 | tee -a "$OUT/summary.txt"
[ "${SPEED:-1}" = 1 ] || exit 0
# Device-to-device copy bandwidth of bench_forward (docs/results/bench-forward-*.json): H100 3019, H200 4145 GB/s.
GBS=3019
grep -q H200 "$OUT/gpu.txt" && GBS=4145
for mode in graph eager; do
  SET=()
  [ "$mode" = eager ] && SET=(--bench-set runtime.cuda_graphs=false)
  timeout "${SPEED_LIMIT:-150}" python3 bench/speed.py --bin "$B/src/cli/struprune-dist" --shared "$STRUPRUNE_SHARED_DIR" \
    --out "/tmp/speed-$mode" --models llama2-7b --sparsity 0.5 --batch 1 16 --repeats 3 --copy-gbs "$GBS" "${SET[@]}" \
    >"$OUT/speed-$mode.txt" 2>&1
  say "speed $mode rc=$?"
  cp "/tmp/speed-$mode/speed.json" "$OUT/speed-$mode.json" 2>/dev/null
  tail -6 "$OUT/speed-$mode.txt" | tee -a "$OUT/summary.txt"
done
