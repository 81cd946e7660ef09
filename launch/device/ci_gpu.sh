#!/usr/bin/env bash
# GPU CI on the device machine (H200, Ubuntu 24.04 image): build the whole tree with CUDA for sm_90,
# run the whole ctest suite (GPU tests run instead of skipping: op tests vs the CPU bodies, NCCL
# communicator under mpirun, model tests on cpu + cuda, WikiText-2 perplexity), compute-sanitizer
# on the kernels, then bench_forward (BENCH=0 skips it, SANITIZE=0 the sanitizer). Everything it produces
# goes under $OUT (env.txt, build.log, tests.log, summary.txt, bench_forward.{txt,json}).
#
#   launch/device/ci_gpu.sh [BENCH_ITERS]      (from the repository root; needs devdata/, .debs/)
#
# .debs/: made here by launch/device/fetch_debs.sh (Debian 12 -dev packages the image lacks).
# devdata/ holds the shared models/data the tests read (STRUPRUNE_SHARED_DIR); what is absent
# makes the corresponding tests skip. Phases are time-boxed so the command ends inside its lease.
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT="${OUT:-$PWD/out/device}"
mkdir -p "$OUT"
ITERS="${1:-10}"
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1  # never NVLink multicast
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
export STRUPRUNE_SHARED_DIR="$PWD/devdata"
T0=$(date +%s)
say() { echo "[ci_gpu +$(($(date +%s) - T0))s] $*" | tee -a "$OUT/summary.txt"; }

{
  nvidia-smi -L
  nvidia-smi --query-gpu=name,memory.total,clocks.sm,clocks.max.sm,power.limit --format=csv
  nvcc --version | tail -2
  cmake --version | head -1
  g++ --version | head -1
  mpirun --version 2>&1 | head -1
  ls /usr/include/nccl.h /usr/local/cuda/include/nccl.h 2>&1
  nproc
  ls /usr/lib/x86_64-linux-gnu/libboost_program_options* 2>&1
} >"$OUT/env.txt" 2>&1

# shellcheck source=launch/device/deps.sh
. launch/device/deps.sh

B=build/device
# -Werror off here: the image's newer g++ may warn where CI's does not; CI keeps warnings as errors.
if ! cmake -S . -B $B -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_ARCHITECTURES=90 -DSTRUPRUNE_WERROR=OFF \
  "${EXTRA[@]}" >"$OUT/build.log" 2>&1; then
  say "configure FAILED"
  grep -v "^--" "$OUT/build.log" | tail -40
  exit 1
fi
# The whole tree, then the whole ctest suite (the CPU tests, the mpirun tests and the GPU tests,
# which run here instead of skipping), then the kernels under compute-sanitizer.
timeout "${BUILD_LIMIT:-420}" ninja -C $B -j"$(nproc)" -k 0 >>"$OUT/build.log" 2>&1
say "build rc=$? (all targets)"
grep -E "^FAILED|error:" "$OUT/build.log" | head -20 | tee -a "$OUT/summary.txt"
timeout "${TEST_LIMIT:-240}" ctest --test-dir $B -j 8 --timeout 200 --output-on-failure ${CTEST_ARGS:-} >"$OUT/tests.log" 2>&1
say "ctest rc=$?"
grep -E "tests passed|tests failed|Failed|\*\*\*|Not Run|\(Skipped\)" "$OUT/tests.log" | head -40 | tee -a "$OUT/summary.txt"

run_test() {  # name timeout cmd...
  local name=$1 limit=$2
  shift 2
  echo "===== $name =====" >>"$OUT/sanitizer.log"
  timeout "$limit" "$@" >>"$OUT/sanitizer.log" 2>&1
  say "$name rc=$?"
}
# Out-of-bounds accesses and shared-memory races in the tiled kernels (compute-sanitizer works on
# the Firecracker machines).
if [ "${SANITIZE:-1}" = 1 ] && command -v compute-sanitizer >/dev/null && [ -x $B/tests/kernels/test_ops_gpu ]; then
  run_test memcheck_ops 90 compute-sanitizer --tool memcheck --error-exitcode 3 $B/tests/kernels/test_ops_gpu \
    --gtest_filter='*/BF16:*Attention/F32'
  run_test racecheck_attention 90 compute-sanitizer --tool racecheck --error-exitcode 3 \
    $B/tests/kernels/test_ops_gpu --gtest_filter='*Attention/F16'
fi
[ "${BENCH:-1}" = 1 ] || { say "done (no bench)"; exit 0; }

# Benchmark: ref models' shapes and LLaMA-2-7B layer shapes, bf16, synthetic weights.
BENCH=(--model llama2-7b:bench/configs/llama2-7b.json:2048:1,4)
# The ref models' config.json, from devdata/bench (copied there when the model itself is not carried).
for m in ref-llama ref-opt; do
  cfg=devdata/bench/$m-config.json
  [ -f "$cfg" ] || cfg=devdata/models/$m/config.json
  [ -f "$cfg" ] && BENCH+=(--model "$m:$cfg:1024:1,8")
done
if [ -x $B/bench/bench_forward ]; then
  echo "command: $B/bench/bench_forward --iters $ITERS ${BENCH[*]} --json bench_forward.json" >"$OUT/bench_forward.txt"
  timeout 150 $B/bench/bench_forward --iters "$ITERS" "${BENCH[@]}" --json "$OUT/bench_forward.json" \
    >>"$OUT/bench_forward.txt" 2>&1
  say "bench_forward rc=$?"
  cat "$OUT/bench_forward.txt"
fi
say "done"
