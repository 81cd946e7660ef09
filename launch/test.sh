#!/usr/bin/env bash
# Set-up + build + the whole test suite (CPU tests, MPI tests under mpirun -np 1/2/4, Slurm tests on
# a local single-node Slurm; GPU tests run when a GPU is visible, otherwise they skip).
#   usage: launch/test.sh [PRESET]
# The default preset is launch/quickstart.sh's (launch/preset.sh), so the tests reuse its build tree.
# CI runs `launch/test.sh ci` (CPU-only, warnings as errors) and `launch/test.sh asan`: AddressSanitizer
# + UBSan; leak checking is on except for the tests that start MPI (labels mpi, cli), where Open
# MPI's own allocations from MPI_Init would be reported. `launch/test.sh tsan` builds and runs only the
# tests labelled threads (the layer read-ahead, the journal and checkpoint writers) under ThreadSanitizer.
# As root, it installs and starts launch/slurm/local_cluster.sh for the tests labelled slurm (not in
# the asan run) and stops it at the end, unless it was already running; elsewhere they skip.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=launch/preset.sh
. launch/preset.sh
preset="${1:-$(sp_default_preset)}"
./launch/setup.sh "$preset"
# Optional: Python's safetensors + numpy for the interoperability tests (they skip without them).
python3 -m pip install -q --disable-pip-version-check --root-user-action=ignore safetensors numpy >/dev/null 2>&1 ||
  echo "test: pip could not install safetensors/numpy; the Python interop tests will skip"
# Optional: h5py, the independent reader of our HDF5 files in tests/io/test_hdf5.cpp (skips without it);
# matplotlib, for the plot of launch/slurm/summarise (the sweep test checks it when installed).
python3 -m pip install -q --disable-pip-version-check --root-user-action=ignore h5py matplotlib >/dev/null 2>&1 ||
  echo "test: pip could not install h5py/matplotlib; the h5py interop tests will skip, sweeps will not plot"
# Optional: Hugging Face's tokenizers, the reference of test_tokenizer_conformance (skips without it).
python3 -m pip install -q --disable-pip-version-check --root-user-action=ignore tokenizers >/dev/null 2>&1 ||
  echo "test: pip could not install tokenizers; the tokenizer conformance test will skip"
# Hugging Face transformers + PyTorch (PyPI's build; runs on the CPU) + PEFT: the independent loader of
# our pruned checkpoints (interop_hf_per_layer_shapes). About 3 GB the first time, then pip finds it
# installed. CI sets STRUPRUNE_REQUIRE_HF=1: there the test fails rather than skips without them.
python3 -m pip install -q --disable-pip-version-check --root-user-action=ignore torch transformers peft >/dev/null 2>&1 ||
  echo "test: pip could not install torch/transformers/peft; interop_hf_per_layer_shapes will skip"
# Optional: ggml's Python gguf reader (GgufWriter.PythonGgufReaderReadsItBack skips without it) and
# llama.cpp, built from the pinned llama-cpp-python source distribution, CPU only, for
# interop_gguf_llama_cpp (which installs it itself otherwise). The first build takes about 20 minutes
# on 2 cores (1237 s measured); pip caches the wheel, so later runs reinstall it in about 25 s.
python3 -m pip install -q --disable-pip-version-check --root-user-action=ignore gguf >/dev/null 2>&1 ||
  echo "test: pip could not install gguf; the GGUF reader test will skip"
tests/interop/install_llama_cpp.sh python3 >/dev/null 2>&1 ||
  echo "test: pip could not install llama-cpp-python; interop_gguf_llama_cpp will skip"
export OMPI_MCA_rmaps_base_oversubscribe=1
jobs="${STRUPRUNE_TEST_JOBS:-2}"
if [ "$preset" = tsan ]; then
  # The preset builds only the test binaries of the label and runs only it (CMakePresets.json);
  # TSAN_OPTIONS (halt on the first report, tests/tsan.supp) come from the test preset.
  ctest --preset tsan -j "$jobs" --timeout 900 -L threads
elif [ "$preset" = asan ]; then
  export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
  # The quality regression (label quality) is a measurement, run by the plain build only; so are the
  # multi-rank end-to-end prunes and the few CLI tests that take minutes under ASan (label slow), and the
  # Slurm tests (the same binary under srun). The
  # ref-llama pipeline test (two full prunes, 15 minutes under ASan) is left to the plain build: the
  # stories260K variants of the same claims run here.
  ASAN_OPTIONS="detect_leaks=1" ctest --preset asan -j "$jobs" --timeout 900 -LE "mpi|cli|quality|slow|slurm" \
    -E '^PipelineRefLlama\.'
  ASAN_OPTIONS="detect_leaks=0" ctest --preset asan -j "$jobs" --timeout 900 -L "mpi|cli" -LE "quality|slow|slurm"
else
  if [ "$(id -u)" -eq 0 ] && ! launch/slurm/local_cluster.sh status 2>/dev/null; then
    if launch/slurm/local_cluster.sh start; then
      trap 'launch/slurm/local_cluster.sh stop' EXIT
    else
      echo "test: the local Slurm did not start; the slurm tests will skip"
    fi
  fi
  ctest --preset "$preset" -j "$jobs" --timeout 900
fi
