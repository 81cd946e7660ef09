#!/usr/bin/env bash
# Set-up + build + the whole test suite (CPU tests, MPI tests under mpirun -np 1/2/4; GPU tests
# run when a GPU is visible, otherwise they skip).  usage: launch/test.sh [PRESET]  (default: ci)
# PRESET asan builds with AddressSanitizer + UBSan; leak checking is on except for the tests that
# start MPI (labels mpi, cli), where Open MPI's own allocations from MPI_Init would be reported.
set -euo pipefail
cd "$(dirname "$0")/.."
preset="${1:-ci}"
./launch/setup.sh "$preset"
# Optional: Python's safetensors + numpy for the interoperability tests (they skip without them).
python3 -m pip install -q --disable-pip-version-check --root-user-action=ignore safetensors numpy >/dev/null 2>&1 ||
  echo "test: pip could not install safetensors/numpy; the Python interop tests will skip"
# Optional: h5py, the independent reader of our HDF5 files in tests/io/test_hdf5.cpp (skips without it).
python3 -m pip install -q --disable-pip-version-check --root-user-action=ignore h5py >/dev/null 2>&1 ||
  echo "test: pip could not install h5py; the h5py interop tests will skip"
# Optional: Hugging Face's tokenizers, the reference of test_tokenizer_conformance (skips without it).
python3 -m pip install -q --disable-pip-version-check --root-user-action=ignore tokenizers >/dev/null 2>&1 ||
  echo "test: pip could not install tokenizers; the tokenizer conformance test will skip"
export OMPI_MCA_rmaps_base_oversubscribe=1
jobs="${STRUPRUNE_TEST_JOBS:-2}"
if [ "$preset" = asan ]; then
  export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
  # The quality regression (label quality) is a measurement, run by the plain build only.
  ASAN_OPTIONS="detect_leaks=1" ctest --preset asan -j "$jobs" --timeout 900 -LE "mpi|cli|quality"
  ASAN_OPTIONS="detect_leaks=0" ctest --preset asan -j "$jobs" --timeout 900 -L "mpi|cli" -LE quality
else
  ctest --preset "$preset" -j "$jobs" --timeout 900
fi
