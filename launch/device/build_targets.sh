# shellcheck shell=bash
# Sourced by device scripts from the repository root, with TAG naming the script: the run's
# environment (OUT, the MPI / NCCL settings, STRUPRUNE_SHARED_DIR = DEVDATA, `say` logging to
# $OUT/summary.txt), the carried -dev packages (deps.sh), then a Release CUDA build of TARGETS in $B
# (configured on first use, with the benchmarks when BENCH=1; a warm machine keeps it), log in $OUT/build.log.
OUT="${OUT:-$PWD/out/device}"
mkdir -p "$OUT"
export NCCL_NVLS_ENABLE=0 OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
STRUPRUNE_SHARED_DIR="$(realpath "${DEVDATA:-devdata}")"
export STRUPRUNE_SHARED_DIR PYTHONUNBUFFERED=1 STRUPRUNE_REQUIRE_HF=1
T0=$(date +%s)
say() { echo "[${TAG:-device} +$(($(date +%s) - T0))s] $*" | tee -a "$OUT/summary.txt"; }
# shellcheck source=launch/device/deps.sh
. launch/device/deps.sh
B="${B:-build/device}"
[ -f "$B/build.ninja" ] ||
  cmake -S . -B "$B" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_ARCHITECTURES=90 -DSTRUPRUNE_WERROR=OFF \
    -DSTRUPRUNE_BENCH="$([ "${BENCH:-0}" = 1 ] && echo ON || echo OFF)" "${EXTRA[@]}" >"$OUT/build.log" 2>&1
# shellcheck disable=SC2086
timeout "${BUILD_LIMIT:-240}" ninja -k 0 -C "$B" -j"$(nproc)" ${TARGETS:-struprune-dist} >>"$OUT/build.log" 2>&1
say "build rc=$?"
grep -E "^FAILED|error:" "$OUT/build.log" | head -10 | tee -a "$OUT/summary.txt"
