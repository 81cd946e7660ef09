#!/usr/bin/env bash
# Runs a command on the GPU machine with binaries built HERE (Debian 12, CUDA 13, sm_90) instead of
# building there: launch/device/pack.sh puts the binaries, the Debian runtime libraries the image
# lacks (Boost.Program_options 1.74, yaml-cpp 0.7, spdlog 1.10, fmt 9, HDF5 1.10) and the shared
# models / data a run needs into .devrun/pack.tar.xz (git-ignored; name `.devrun` in the device
# call's carry list). This script unpacks it to /tmp/run, sets the environment and runs "$@" with
# BIN=/tmp/run/bin and STRUPRUNE_SHARED_DIR=/tmp/run/devdata.
#   launch/device/carried.sh bash -c '$BIN/test_prune && python3 bench/quality.py --bin $BIN/struprune-dist ...'
set -euo pipefail
cd "$(dirname "$0")/../.."
mkdir -p /tmp/run
tar -xJf .devrun/pack.tar.xz -C /tmp/run
export BIN=/tmp/run/bin
export LD_LIBRARY_PATH="/tmp/run/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export STRUPRUNE_SHARED_DIR=/tmp/run/devdata
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1  # never NVLink multicast
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
export OUT="${OUT:-$PWD/out/device}"
mkdir -p "$OUT"
exec "$@"
