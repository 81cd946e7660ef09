#!/usr/bin/env bash
# One device call for issue 26's checks, most valuable first, each writing under $OUT as it ends: a
# Release build for sm_90, the LLaMA-2-7B-shaped prune cut to LAYERS decoder layers (default 32; 128 x
# 2048 calibration tokens, bf16, 50%: report.json's phases), the 8-layer prune with STRUPRUNE_RANGE_SECONDS=1
# (report.json's range_seconds: device time per named range, from CUDA events), then the GPU tests, then the
# 8-layer prune under bench/cupti_trace (device time per NVTX range, kernel by kernel).
#   QUICK=1 (a short lease): only struprune-dist, test_linalg_gpu (every CUDA body of the pruning ops
#   against the CPU's) and test_prune's GPU cases, those tests and the two prunes; no trace.
#   EXTRA_TARGETS (with BENCH=1 for bench/ targets) are built too. Otherwise: the whole tree, the whole
#   `ctest -L gpu` label and the CUDA variants of the other tests.
# .device/ranks: launch/device/ranks_bundle.sh ranks ref-llama; .device/stories (the GPU tests' other models):
#   mkdir -p /tmp/st/devdata/models /tmp/st/devdata/data .device/stories && cp -r ../shared/models/stories260K-hf \
#     /tmp/st/devdata/models/ && cp -r ../shared/data/tokenizers ../shared/data/c4 /tmp/st/devdata/data/ &&
#     tar -cJf .device/stories/devdata-extra.tar.xz -C /tmp/st devdata
#   carry [".device/ranks", ".device/stories"] (QUICK=1: .device/ranks alone):
#   [QUICK=1] [LAYERS=8] bash launch/device/check_prune_speed.sh
set -uo pipefail
# Files under $OUT (the device tool returns at most 8): build.log, summary.txt, prunes.txt, tests.log,
# trace-8.txt and the scaling JSON of each prune.
L=${LAYERS:-32}
R=.device/ranks
mkdir -p /tmp/dd && tar -xJf $R/devdata.tar.xz -C /tmp/dd
[ -f .device/stories/devdata-extra.tar.xz ] && tar -xJf .device/stories/devdata-extra.tar.xz -C /tmp/dd
export DEBS=$R/debs DEVDATA=/tmp/dd/devdata
if [ "${QUICK:-0}" = 1 ]; then T="struprune-dist test_linalg_gpu test_prune ${EXTRA_TARGETS:-}" BENCH=${BENCH:-0}; else T=all BENCH=1; fi
TAG=check TARGETS="$T" BUILD_LIMIT=${BUILD_LIMIT:-240} . launch/device/build_targets.sh
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader | tee -a "$OUT/summary.txt"
D=$STRUPRUNE_SHARED_DIR
prune() {  # tag layers [env...]
  local tag=$1 layers=$2
  shift 2
  env "$@" timeout 200 python3 bench/prune_scaling.py --bin "$B/src/cli/struprune-dist" \
    --tokenizer "$D/models/ref-llama/tokenizer.json" --calib "$D/data/refcorpus/heldout-calib.txt" --out /tmp/speed \
    --shapes llama2-7b --layers "$layers" --nsamples 128 --seqlen 2048 --timeout 190 --tag="-$tag" \
    >/tmp/prune-"$tag".txt 2>&1
  say "prune $tag rc=$?"
  cat /tmp/prune-"$tag".txt >>"$OUT/prunes.txt"
  cp /tmp/speed/scaling-np1-"$tag".json "$OUT/" 2>/dev/null
  grep -h "phases\|^ranges:" /tmp/prune-"$tag".txt | cut -c1-2200
}
if [ "${QUICK:-0}" = 1 ]; then
  timeout 60 "$B/tests/kernels/test_linalg_gpu" >"$OUT/tests.log" 2>&1
  say "test_linalg_gpu rc=$?"
  timeout 120 "$B/tests/prune/test_prune" --gtest_filter='ObsGpu.*:Devices/Obs.*/cuda0' >>"$OUT/tests.log" 2>&1
  say "test_prune (GPU cases) rc=$?"
  grep -E "^\[  (PASSED|FAILED) |FAILED TEST" "$OUT/tests.log" | tee -a "$OUT/summary.txt"
  prune "${L}l" "$L"
  prune ranges8 8 STRUPRUNE_RANGE_SECONDS=1
  exit 0
fi
prune "${L}l" "$L"
prune ranges8 8 STRUPRUNE_RANGE_SECONDS=1
timeout "${TEST_LIMIT:-200}" ctest --test-dir "$B" -L gpu -j 4 --timeout 180 >/tmp/tests-gpu.log 2>&1
say "ctest -L gpu rc=$?"
grep -E "tests passed|tests failed|\*\*\*Failed|Not Run" /tmp/tests-gpu.log | head -20 | tee -a "$OUT/summary.txt"
timeout 120 ctest --test-dir "$B" -R "cuda|Cuda|Gpu|bf16" -LE gpu -j 4 --timeout 110 >/tmp/tests-cuda.log 2>&1
say "ctest cuda variants rc=$?"
grep -E "tests passed|tests failed|\*\*\*Failed|Not Run" /tmp/tests-cuda.log | head -20 | tee -a "$OUT/summary.txt"
cat /tmp/tests-gpu.log /tmp/tests-cuda.log >"$OUT/tests.log"
CUPTI=$(find /usr/local/cuda/ /usr/local/cuda-*/ -name 'libcupti.so*' 2>/dev/null | head -1)
[ -n "$CUPTI" ] && prune trace8 8 SP_TRACE_CRASH=1 CUDA_INJECTION64_PATH="$PWD/$B/bench/libcupti_trace.so" \
  NVTX_INJECTION64_PATH="$CUPTI" SP_TRACE_OUT=/tmp/trace-8.json
grep -h -A60 "cupti_trace: device" /tmp/speed/*trace8*.log 2>/dev/null | head -60 >"$OUT/trace-8.txt"
say "done"
