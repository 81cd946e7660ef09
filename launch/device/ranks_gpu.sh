#!/usr/bin/env bash
# Issue 25's GPU checks on the device machine, in one call of at most 600 s: build the default preset
# (Release, CUDA for sm_90) with only the targets the checks need, then
#   STEP=all : the whole `gpu` label (ctest -L gpu: op tests vs the CPU bodies, the wikitext perplexity,
#              the NCCL communicator, np 1/2/3 sharing the GPU on the carried model, the rank-failure
#              test on the GPU) and the MPI communicator's device-tensor sums under mpirun -np 2 and 3;
#   STEP=more: only the tests of the model carried this time (a second call on the warm machine:
#              the build is kept), e.g. ref-opt.
# Logs go under $OUT (env.txt, build.log, tests.log, summary.txt). Run from the source root:
#   DEBS=dir-of-debs DEVDATA=shared-subset B=build-dir bash launch/device/ranks_gpu.sh
# DEBS: the Debian 12 -dev packages the image lacks (launch/device/fetch_debs.sh); DEVDATA: the shared
# models / data (STRUPRUNE_SHARED_DIR; what is absent makes its tests skip).
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT="${OUT:-$PWD/out/device}"
mkdir -p "$OUT"
STEP="${STEP:-all}"
DEBS="$(realpath "${DEBS:-.debs}")"
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1  # never NVLink multicast
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
export STRUPRUNE_SHARED_DIR="$(realpath "${DEVDATA:-devdata}")"
export PYTHONUNBUFFERED=1
T0=$(date +%s)
say() { echo "[ranks_gpu +$(($(date +%s) - T0))s] $*" | tee -a "$OUT/summary.txt"; }

{
  nvidia-smi -L
  nvcc --version | tail -2
  g++ --version | head -1
  mpirun --version 2>&1 | head -1
  python3 -c "import h5py, numpy; print('h5py', h5py.__version__)" 2>&1
  nproc
  # Does this g++ contract `s += a * b` into an FMA for the ISO C++20, -march=native CPU bodies?
  printf 'void f(double*d,const double*a,const double*b,long k,long n){for(long j=0;j<n;++j){double s=0;for(long i=0;i<k;++i)s+=a[i*n+j]*b[i*n+j];d[j]-=s;}}\n' >/tmp/fc.cpp
  echo "g++ -std=c++20 -O2 -march=native: $(g++ -std=c++20 -O2 -march=native -S -o - /tmp/fc.cpp | grep -c vfmadd) vfmadd"
} >"$OUT/env.txt" 2>&1

# shellcheck source=launch/device/deps.sh
. launch/device/deps.sh

B="${B:-build/device}"
# The default preset's settings (Release, CUDA on) for sm_90; -Werror off: the image's g++ is newer than CI's.
if [ ! -f "$B/build.ninja" ] &&
  ! cmake -S . -B "$B" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_ARCHITECTURES=90 -DSTRUPRUNE_WERROR=OFF \
    -DSTRUPRUNE_BENCH=OFF "${EXTRA[@]}" >"$OUT/build.log" 2>&1; then
  say "configure FAILED"
  grep -v "^--" "$OUT/build.log" | tail -40
  exit 1
fi
TARGETS=(struprune-dist test_ops_gpu test_linalg_gpu test_model_wikitext_gpu test_nccl test_mpi_communicator test_gpu_binding)
timeout "${BUILD_LIMIT:-400}" ninja -C "$B" -j"$(nproc)" "${TARGETS[@]}" >>"$OUT/build.log" 2>&1
say "build rc=$? (${TARGETS[*]})"
grep -E "^FAILED|error:" "$OUT/build.log" | head -20 | tee -a "$OUT/summary.txt"
grep -q "STRUPRUNE_CUDA:BOOL=ON" "$B/CMakeCache.txt" || say "WARNING: CUDA is off in $B"

if [ "$STEP" = all ]; then
  timeout "${TEST_LIMIT:-300}" ctest --test-dir "$B" -L gpu -j 4 --timeout 280 --output-on-failure >"$OUT/tests.log" 2>&1
  say "ctest -L gpu rc=$?"
  for np in 2 3; do
    timeout 60 mpirun -np $np "$B/tests/dist/test_mpi_communicator" >>"$OUT/tests.log" 2>&1
    say "test_mpi_communicator np $np on one GPU (device tensors staged through pinned memory) rc=$?"
  done
  timeout 30 "$B/tests/dist/test_gpu_binding" >>"$OUT/tests.log" 2>&1
  say "test_gpu_binding rc=$?"
else
  timeout "${TEST_LIMIT:-300}" ctest --test-dir "$B" -L gpu -R "${MORE_REGEX:-ref-opt|WikitextPpl}" -j 4 --timeout 280 \
    --output-on-failure >"$OUT/tests.log" 2>&1
  say "ctest -L gpu -R '${MORE_REGEX:-ref-opt|WikitextPpl}' rc=$?"
fi
grep -E "tests passed|tests failed|Failed|\*\*\*|Not Run|\(Skipped\)|SKIP" "$OUT/tests.log" | head -60 | tee -a "$OUT/summary.txt"
say "done"
