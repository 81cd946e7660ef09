#!/usr/bin/env bash
# Set-up + build + the whole test suite (CPU tests, MPI tests under mpirun -np 2/4; GPU tests
# run when a GPU is visible, otherwise they skip).  usage: launch/test.sh [PRESET]  (default: ci)
set -euo pipefail
cd "$(dirname "$0")/.."
preset="${1:-ci}"
./launch/setup.sh "$preset"
export OMPI_MCA_rmaps_base_oversubscribe=1
ctest --preset "$preset" -j "${STRUPRUNE_TEST_JOBS:-2}" --timeout 900
