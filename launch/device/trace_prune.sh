#!/usr/bin/env bash
# One device call: where the LLaMA-2-7B-shaped prune's device time goes. Builds struprune-dist and
# bench/cupti_trace, runs the prune (synthetic weights, 128 x 2048 calibration tokens, bf16, 50%,
# LAYERS decoder layers) once plainly (report.json's phases) and once under the CUPTI trace (every
# kernel charged to the NVTX range that launched it: $OUT/trace-*.json, table in $OUT/trace-*.txt).
#   carry [".device/ranks"]:  R=.device/ranks; mkdir -p /tmp/dd && tar -xJf $R/devdata.tar.xz -C /tmp/dd
#   DEBS=$R/debs DEVDATA=/tmp/dd/devdata bash launch/device/trace_prune.sh LAYERS ["--set k=v" ...]
set -uo pipefail
L=${1:-8}
shift || true
TAG=trace BENCH=1 TARGETS="struprune-dist cupti_trace" . launch/device/build_targets.sh
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader | tee "$OUT/gpu.txt"
CUPTI=$(find /usr/local/cuda/ /usr/local/cuda-*/ -name 'libcupti.so*' 2>/dev/null | head -1)
say "libcupti: ${CUPTI:-none}"
D=$STRUPRUNE_SHARED_DIR
run() {  # tag [env...] -- [prune_scaling args]
  local tag=$1
  shift
  env "$@" timeout 280 python3 bench/prune_scaling.py --bin "$B/src/cli/struprune-dist" \
    --tokenizer "$D/models/ref-llama/tokenizer.json" --calib "$D/data/refcorpus/heldout-calib.txt" --out /tmp/trace \
    --shapes llama2-7b --layers "$L" --nsamples 128 --seqlen 2048 --timeout 270 --tag="-$tag" ${SETS:-} \
    >"$OUT/run-$tag.txt" 2>&1
  say "$tag rc=$?"
  grep -hE "^\||seconds|wall" "$OUT/run-$tag.txt" | head -40
}
SETS="$*"
[ "${PLAIN:-1}" = 1 ] && run plain
[ -n "$CUPTI" ] && run traced SP_TRACE_CRASH=1 CUDA_INJECTION64_PATH="$PWD/$B/bench/libcupti_trace.so" NVTX_INJECTION64_PATH="$CUPTI" \
  SP_TRACE_OUT="$OUT/trace-$L.json"
cp /tmp/trace/*.json "$OUT/" 2>/dev/null
grep -A400 "cupti_trace:" /tmp/trace/*traced*.log "$OUT/run-traced.txt" 2>/dev/null | head -200 >"$OUT/trace-$L.txt"
head -120 "$OUT/trace-$L.txt"
