#!/usr/bin/env bash
# One device call on a fresh machine for the GPU checks of the merged tree: build (ci_gpu.sh, no ctest),
# the GPU op / pruning tests (cuda variants), RoPE scaling against transformers (issue 13) and the speed
# benchmark of compact checkpoints (issue 11, bench/speed.py). Results under $OUT.
set -uo pipefail
cd "$(dirname "$0")/../.."
BENCH=0 SANITIZE=0 TEST_LIMIT=1 bash launch/device/ci_gpu.sh >/dev/null 2>&1
tail -3 "$OUT/summary.txt"
export LD_LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu STRUPRUNE_SHARED_DIR=$PWD/devdata NCCL_NVLS_ENABLE=0
T=build/device/tests
for t in kernels/test_ops_gpu kernels/test_linalg_gpu; do
  timeout 120 $T/$t --gtest_brief=1 >"$OUT/$(basename $t).txt" 2>&1; echo "$t rc=$? $(tail -2 "$OUT/$(basename $t).txt" | tr '\n' ' ')"
done
timeout 150 $T/prune/test_prune --gtest_filter='*/cuda0' --gtest_brief=1 >"$OUT/test_prune_cuda.txt" 2>&1
echo "test_prune cuda rc=$? $(tail -2 "$OUT/test_prune_cuda.txt" | tr '\n' ' ')"
timeout 120 python3 tests/interop/hf_rope_models.py --bin $T/interop/sp_prompt_logits --device cuda \
  --json "$OUT/hf_rope.json" >"$OUT/hf_rope.txt" 2>&1
echo "hf_rope rc=$? $(tail -3 "$OUT/hf_rope.txt" | tr '\n' ' ')"
timeout "${SPEED_LIMIT:-240}" python3 bench/speed.py --bin $PWD/build/device/src/cli/struprune-dist \
  --shared "$STRUPRUNE_SHARED_DIR" --out /tmp/speed --repeats 2 ${SPEED_ARGS:-} >"$OUT/speed.log" 2>&1
echo "speed rc=$?"
cp /tmp/speed/speed.md /tmp/speed/speed.json "$OUT/" 2>/dev/null
cat "$OUT/speed.md" 2>/dev/null
