#!/usr/bin/env bash
# Second device call of a session, after launch/device/ci_gpu.sh built build/device on the same
# (warm) machine: the pruning checks and benchmarks that need a GPU, each time-boxed, results under
# $OUT (summary.txt + one file per step). Steps are chosen by name: STEPS="masks scaling7b sizes".
#   masks      ref-llama 50% (16 x 512, fp32) on the GPU vs the CPU masks made on the dev machine
#              (.devrun/cpu_masks.h5) -> tests/interop/compare_masks.py
#   scaling7b  LLaMA-2-7B shape (synthetic weights), 128 x 2048 calibration tokens, bf16, 1 GPU
#   sizes      peak memory and time against N: OPT-125M .. LLaMA-2-13B shapes, 32 x 2048 tokens
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT="${OUT:-$PWD/out/device}"
mkdir -p "$OUT"
export NCCL_NVLS_ENABLE=0 OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export STRUPRUNE_SHARED_DIR="$PWD/devdata"
[ -d /tmp/deps/usr/lib/x86_64-linux-gnu ] && export LD_LIBRARY_PATH="/tmp/deps/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
B=build/device
BIN=$PWD/$B/src/cli/struprune-dist
M=$PWD/devdata/models/ref-llama
D=$PWD/devdata/data/refcorpus
T0=$(date +%s)
say() { echo "[issue_runs +$(($(date +%s) - T0))s] $*" | tee -a "$OUT/summary.txt"; }
has() { [[ " ${STEPS:-masks scaling7b sizes} " == *" $1 "* ]]; }

if has masks; then
  cat >/tmp/masks.yaml <<YAML
model: {path: $M}
calibration: {path: $D/heldout-calib.txt, format: text, nsamples: 16, seqlen: 512, seed: 0}
prune: {sparsity: 0.5, structures: {attention: kv_groups, mlp: true}}
runtime: {device: cuda, precision: fp32}
output: {dir: /tmp/gpu_masks, checkpoint: none, overwrite: true}
eval: {datasets: [{name: heldout, path: $D/heldout-eval.txt, format: text}], seqlen: 512, max_windows: 32}
logging: {level: warn}
YAML
  timeout 120 $BIN /tmp/masks.yaml >"$OUT/masks_run.log" 2>&1
  say "GPU prune for the masks check rc=$?"
  cp /tmp/gpu_masks/report.json "$OUT/masks_gpu_report.json" 2>/dev/null
  python3 tests/interop/compare_masks.py .devrun/cpu_masks.h5 /tmp/gpu_masks/masks.h5 >"$OUT/masks_compare.txt" 2>&1
  say "CPU vs GPU masks rc=$? $(tail -2 "$OUT/masks_compare.txt" | tr '\n' ' ')"
fi
if has scaling7b; then
  timeout 260 python3 bench/prune_scaling.py --bin $BIN --tokenizer $M/tokenizer.json --calib $D/heldout-calib.txt \
    --out /tmp/s7 --shapes llama2-7b --nsamples 128 --seqlen 2048 --timeout 250 >"$OUT/scaling7b.txt" 2>&1
  say "7B-shaped prune rc=$? $(grep -E '^llama2-7b:' "$OUT/scaling7b.txt")"
  cp /tmp/s7/scaling-np1.json "$OUT/scaling7b.json" 2>/dev/null
fi
if has sizes; then
  timeout 170 python3 bench/prune_scaling.py --bin $BIN --tokenizer $M/tokenizer.json --calib $D/heldout-calib.txt \
    --out /tmp/sz --shapes opt-125m llama-1b opt-1.3b llama2-7b --nsamples 32 --seqlen 2048 \
    --timeout 120 >"$OUT/sizes.txt" 2>&1
  say "sizes rc=$? $(grep -E 'fit' "$OUT/sizes.txt")"
  cp /tmp/sz/scaling-np1.json "$OUT/sizes.json" 2>/dev/null
  cp /tmp/sz/scaling-memory-np1.png "$OUT/sizes-memory.png" 2>/dev/null
fi
say "done"
