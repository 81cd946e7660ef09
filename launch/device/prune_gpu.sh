#!/usr/bin/env bash
# The GPU checks of the pruning pipeline on ref-llama, in one device call (run through
# launch/device/carried.sh after launch/device/pack.sh BUILD ref-llama with the binaries below):
#  1. GPU tests: test_prune (pipeline on CPU and GPU), test_linalg_gpu, test_ops_gpu;
#  2. bench/quality.py on ref-llama (every method, 20/30/50%), GPU, fp32 -> $OUT/quality.{md,json};
#  3. masks of the GPU run equal those of a CPU run made on the dev machine (.devrun/cpu_masks.h5,
#     same config) -> tests/interop/compare_masks.py;
#  4. stock transformers loads the masked dense checkpoint (structprune, 50%) and the compact
#     checkpoints of a uniform run and of a prune.uniform_shape run (every layer the same shape)
#     and gets our perplexity.
# Binaries: src/cli/struprune-dist tests/prune/test_prune tests/kernels/test_linalg_gpu tests/kernels/test_ops_gpu
set -uo pipefail
M=$STRUPRUNE_SHARED_DIR/models/ref-llama
D=$STRUPRUNE_SHARED_DIR/data/refcorpus
say() { echo "[prune_gpu] $*" | tee -a "$OUT/summary.txt"; }

($BIN/test_linalg_gpu --gtest_brief=1 && $BIN/test_ops_gpu --gtest_brief=1 && $BIN/test_prune --gtest_brief=1) \
  >"$OUT/tests.log" 2>&1
say "GPU tests rc=$? $(grep -cE '^\[  PASSED' "$OUT/tests.log") binaries passed; $(grep -E 'FAILED' "$OUT/tests.log" | head -3)"

timeout 300 python3 bench/quality.py --bin $BIN/struprune-dist --model $M --calib $D/heldout-calib.txt \
  --eval $D/heldout-eval.txt --out /tmp/q --device cuda ${QUALITY_ARGS:-} >"$OUT/quality.log" 2>&1
say "quality rc=$?"
cp /tmp/q/quality.md /tmp/q/quality.json "$OUT/" 2>/dev/null

cfg=/tmp/masks.yaml
cat >$cfg <<YAML
model: {path: $M}
calibration: {path: $D/heldout-calib.txt, format: text, nsamples: 16, seqlen: 512, seed: 0}
prune: {sparsity: 0.5, structures: {attention: kv_groups, mlp: true}}
runtime: {device: cuda, precision: fp32}
output: {dir: /tmp/gpu_masks, checkpoint: none, overwrite: true}
logging: {level: warn}
YAML
$BIN/struprune-dist $cfg >>"$OUT/runs.log" 2>&1
python3 tests/interop/compare_masks.py .devrun/cpu_masks.h5 /tmp/gpu_masks/masks.h5 >"$OUT/masks_compare.txt" 2>&1
say "CPU vs GPU masks rc=$? $(tail -1 "$OUT/masks_compare.txt")"

run() {  # name, then --set overrides
  local name=$1
  shift
  python3 - "$M" "$D" "/tmp/$name" >/tmp/$name.yaml <<'PY'
import sys
m, d, out = sys.argv[1:4]
print(f"model: {{path: {m}}}\ncalibration: {{path: {d}/heldout-calib.txt, format: text, nsamples: 64, seqlen: 1024}}\n"
      f"runtime: {{device: cuda, precision: fp32}}\noutput: {{dir: {out}, overwrite: true}}\n"
      f"eval: {{datasets: [{{name: heldout, path: {d}/heldout-eval.txt, format: text}}], seqlen: 1024}}")
PY
  echo "== $name $*" >>"$OUT/runs.log"
  $BIN/struprune-dist /tmp/$name.yaml "$@" >>"$OUT/runs.log" 2>&1
}
run hf_dense --set prune.sparsity=0.5 --set output.checkpoint=dense
run hf_uniform --set prune.sparsity=0.5 --set prune.method=obs-sp+ls --set output.checkpoint=compact
# structprune with prune.uniform_shape (admm sets the attention / MLP split) and round_to 8: a stock checkpoint.
run hf_uniform_shape --set prune.sparsity=0.5 --set prune.uniform_shape=true --set prune.round_to=8 \
  --set output.checkpoint=compact
python3 tests/interop/hf_load_pruned.py $D/heldout-eval.txt /tmp/hf_dense /tmp/hf_uniform /tmp/hf_uniform_shape \
  --json "$OUT/hf.json" \
  >/tmp/hf.txt 2>&1
rc=$?
cat /tmp/hf.txt >>"$OUT/runs.log"
say "transformers rc=$rc $(tail -3 /tmp/hf.txt | tr '\n' ' ')"
