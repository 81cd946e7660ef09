#!/usr/bin/env bash
# Issue 24 and 27's GPU checks on the device machine, in one call of at most 600 s: build the whole tree
# (Release, CUDA for sm_90; the build folder is kept on a warm machine), then
#   - the whole ctest suite except what needs this machine's llama.cpp build or Slurm (GPU tests run
#     instead of skipping: the families' CUDA logits / perplexity / bf16 / KV-cache greedy, op tests vs
#     the CPU bodies, NCCL, ranks sharing the GPU, the families pruned on CUDA and loaded by transformers);
#   - tests/interop/make_family_models.py --check --device cuda: the committed family models through
#     this machine's transformers (5.17) give the committed values.
# Logs under $OUT (env.txt, build.log, tests.log, families_check.{txt,json}, summary.txt). From the root:
#   DEBS=dir-of-debs DEVDATA=shared-subset B=build-dir [STEP=build|test|quick|all] [ONLY="targets"] bash launch/device/families_gpu.sh
# STEP=build: build + the transformers check; STEP=test: the suite only (a second call on the warm machine);
# STEP=quick: the GPU-facing binaries and tests only, everything in one call.
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT="${OUT:-$PWD/out/device}"
mkdir -p "$OUT"
DEBS="$(realpath "${DEBS:-.debs}")"
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1  # never NVLink multicast
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
export STRUPRUNE_SHARED_DIR="$(realpath "${DEVDATA:-devdata}")"
export PYTHONUNBUFFERED=1 STRUPRUNE_REQUIRE_HF=1
T0=$(date +%s)
say() { echo "[families_gpu +$(($(date +%s) - T0))s] $*" | tee -a "$OUT/summary.txt"; }
{
  nvidia-smi -L
  nvcc --version | tail -2
  python3 -c "import torch, transformers; print('torch', torch.__version__, 'transformers', transformers.__version__)"
} >"$OUT/env.txt" 2>&1
# shellcheck source=launch/device/deps.sh
. launch/device/deps.sh
B="${B:-build/device}"
if [ ! -f "$B/build.ninja" ] &&
  ! cmake -S . -B "$B" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_ARCHITECTURES=90 -DSTRUPRUNE_WERROR=OFF \
    -DSTRUPRUNE_BENCH="$([ "${BENCH:-0}" = 1 ] && echo ON || echo OFF)" "${EXTRA[@]}" >"$OUT/build.log" 2>&1; then
  say "configure FAILED"
  grep -v "^--" "$OUT/build.log" | tail -40
  exit 1
fi
STEP="${STEP:-all}"
# STEP=quick: one call: only the binaries of the GPU-facing tests, then those tests (below).
QUICK_TARGETS=(struprune-dist sp_prompt_logits test_family_reference test_phi3 test_model_reference test_model_variants
               test_rope_scaling test_prune test_ops_gpu test_linalg_gpu test_model_wikitext_gpu test_nccl
               test_mpi_communicator test_gpu_binding)
[ "${BENCH:-0}" = 1 ] && QUICK_TARGETS+=(bench_forward)
# ONLY="t1 t2 ...": these targets instead (a call with little device time left).
[ -n "${ONLY:-}" ] && read -ra QUICK_TARGETS <<<"$ONLY"
[ "$STEP" = quick ] && TARGETS=("${QUICK_TARGETS[@]}") || TARGETS=()
timeout "${BUILD_LIMIT:-480}" ninja -k 0 -C "$B" -j"$(nproc)" "${TARGETS[@]}" >>"$OUT/build.log" 2>&1
say "build rc=$?"
grep -E "^FAILED|error:" "$OUT/build.log" | head -20 | tee -a "$OUT/summary.txt"
grep -q "STRUPRUNE_CUDA:BOOL=ON" "$B/CMakeCache.txt" || say "WARNING: CUDA is off in $B"

if [ "$STEP" != test ]; then
timeout "${CHECK_LIMIT:-90}" python3 tests/interop/make_family_models.py --check --device cuda \
  --json "$OUT/families_check.json" >"$OUT/families_check.txt" 2>&1
say "families --check (transformers on cuda) rc=$?"
grep -E "ok$|FAIL" "$OUT/families_check.txt" | tee -a "$OUT/summary.txt"
fi
[ "$STEP" = build ] && exit 0

if [ "$STEP" = quick ]; then
  timeout "${TEST_LIMIT:-240}" ctest --test-dir "$B" -j 8 --timeout 200 --output-on-failure \
    -R "Family|Phi3|ModelReference|Variants|Rope|Obs|Gpu|gpu|nccl|Nccl|Wikitext" -E "slurm_|dist_ranks_agree" >"$OUT/tests.log" 2>&1
  say "ctest (GPU-facing) rc=$?"
  timeout "${LABEL_LIMIT:-240}" ctest --test-dir "$B" -j 4 --timeout 230 --output-on-failure -L gpu >"$OUT/tests_gpu_label.log" 2>&1
  say "ctest -L gpu rc=$?"
  grep -E "tests passed|\(Failed\)|Timeout|Not Run" "$OUT/tests_gpu_label.log" | head -20 | tee -a "$OUT/summary.txt"
else
timeout "${TEST_LIMIT:-300}" ctest --test-dir "$B" -j 8 --timeout 280 --output-on-failure \
  -E "${TEST_EXCLUDE:-interop_gguf_llama_cpp|interop_hf_per_layer_shapes|interop_tokenizer_oracle_gguf|slurm_|tsan}" >"$OUT/tests.log" 2>&1
fi
say "ctest rc=$?"
grep -E "tests passed|Failed|\(Failed\)|Timeout|Not Run" "$OUT/tests.log" | head -40 | tee -a "$OUT/summary.txt"
grep -cE "Passed" "$OUT/tests.log" | sed 's/^/passed lines: /' | tee -a "$OUT/summary.txt"
grep -E "_cuda .*Passed|_gpu .*Passed" "$OUT/tests.log" | wc -l | sed 's/^/cuda\/gpu tests passed: /' | tee -a "$OUT/summary.txt"

# BENCH=1: the engine forward benchmark of docs/benchmarks.md.
if [ "${BENCH:-0}" = 1 ]; then
  B="$B" OUT="$OUT" bash launch/device/bench_forward.sh
  say "bench_forward rc=$?"
fi
