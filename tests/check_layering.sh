#!/usr/bin/env bash
# Layering guard (run by ctest, test `layering`; tests/check_layering_test.sh plants a violation of
# each rule and expects this to fail). usage: check_layering.sh [REPO_ROOT]
#  1. A room (src/<room>) includes only the rooms below it, "..." and <...> alike (table `allowed`).
#  2. mpi.h only in src/dist.
#  3. CUDA / cuBLAS / cuSOLVER / NCCL / NVTX headers and device code only in src/kernels/cuda, the core's CUDA
#     context (core/cuda_state.h, core/context_cuda.cpp, core/trace_range_nvtx.cpp) and dist's NCCL files
#     (nccl_*.cpp, *_cuda.cpp).
#  4. The public headers (include/) expose no CUDA, MPI or HDF5.
#  5. core does not publish src/ as an include root (it links the top-level struprune_headers
#     PRIVATE; every other room publishes it).
set -u
root="$(cd "${1:-$(dirname "$0")/..}" && pwd)"
fail=0
report() { echo "$1"; echo "$2"; fail=1; }

declare -A allowed=(
  [core]="core"
  [io]="core io"
  [kernels]="core io kernels"
  [tokenize]="core io kernels tokenize"
  [model]="core io kernels tokenize model"
  [prune]="core io kernels tokenize model prune"
  [persist]="core io kernels tokenize model prune persist"
  [dist]="core dist"
  [cli]="core io kernels tokenize model prune persist dist cli"
)
rooms="${!allowed[*]}"
for dir in "$root"/src/*/; do
  room=$(basename "$dir")
  [ -n "${allowed[$room]+x}" ] || { report "src/$room is a room the layering table does not know:" "  add it to tests/check_layering.sh"; continue; }
  for other in $rooms; do
    [[ " ${allowed[$room]} " == *" $other "* ]] && continue
    bad=$(grep -rnE "#[[:space:]]*include[[:space:]]*[<\"]$other/" "$dir" 2>/dev/null)
    [ -n "$bad" ] && report "src/$room includes $other/, which it may not (may: ${allowed[$room]}):" "$bad"
  done
done

bad=$(grep -rnE '#[[:space:]]*include[[:space:]]*[<"]mpi\.h' "$root/src" "$root/include" 2>/dev/null | grep -v "^$root/src/dist/")
[ -n "$bad" ] && report "mpi.h outside src/dist:" "$bad"

cuda_core='kernels/cuda/|core/cuda_state\.h:|core/context_cuda\.cpp:|core/trace_range_nvtx\.cpp:'
bad=$(grep -rnE '#[[:space:]]*include[[:space:]]*[<"](cuda|cublas|cusolver|curand|nccl|nvtx|cub/|thrust/)' "$root/src" 2>/dev/null |
  grep -vE "^$root/src/($cuda_core|dist/nccl_[a-z_]*\.cpp:|dist/[a-z_]*_cuda\.cpp:)")
[ -n "$bad" ] && report "CUDA headers outside kernels/cuda, the core's CUDA context and dist's NCCL files:" "$bad"
# Device code and library calls (dist's comments may name the NCCL calls its abort path stands for).
bad=$(grep -rnE '__global__|cudaMalloc|cublas[A-Z]|cusolver[A-Z]|nccl[A-Z]' "$root/src" 2>/dev/null |
  grep -vE "^$root/src/($cuda_core|dist/)")
[ -n "$bad" ] && report "CUDA calls outside kernels/cuda, the core's CUDA context and dist:" "$bad"

bad=$(grep -rnE '#[[:space:]]*include[[:space:]]*[<"](cuda|cublas|cusolver|nccl|mpi|hdf5|H5)' "$root/include" 2>/dev/null)
[ -n "$bad" ] && report "public headers must not expose CUDA/MPI/HDF5:" "$bad"

bad=$(grep -nE 'include_directories.*(PROJECT_SOURCE_DIR|CMAKE_SOURCE_DIR)\}?/src\b' "$root/src/core/CMakeLists.txt" 2>/dev/null)
bad+=$(grep -nE 'struprune_core +(PUBLIC|INTERFACE)[^)]*struprune_headers|foreach\(room[^)]* core\b' "$root/CMakeLists.txt" 2>/dev/null)
[ -n "$bad" ] && report "src/core must not publish src/ as an include root:" "$bad"

[ $fail -eq 0 ] && echo "layering OK"
exit $fail
