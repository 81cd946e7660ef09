#!/usr/bin/env bash
# The layering guard can fail: for each of its rules, a temporary copy of src/ and include/ gets one
# planted violation, and tests/check_layering.sh must reject that copy while accepting the clean one.
set -u
repo="$(cd "$(dirname "$0")/.." && pwd)"
check="$repo/tests/check_layering.sh"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
fresh() {
  rm -rf "$tmp/copy" && mkdir -p "$tmp/copy" && cp -r "$repo/src" "$repo/include" "$repo/CMakeLists.txt" "$tmp/copy/"
}
expect_fail() {  # NAME FILE LINE: plants LINE at the top of FILE (relative to the copy)
  fresh
  printf '%s\n' "$3" | cat - "$tmp/copy/$2" >"$tmp/planted" && mv "$tmp/planted" "$tmp/copy/$2"
  if bash "$check" "$tmp/copy" >"$tmp/out" 2>&1; then
    echo "FAIL: $1 was not caught ($2: $3)"; fail=1
  else
    echo "ok: $1 caught: $(head -1 "$tmp/out")"
  fi
}
fresh
bash "$check" "$tmp/copy" >/dev/null || { echo "FAIL: the clean copy is rejected"; bash "$check" "$tmp/copy"; fail=1; }
expect_fail 'a "..." include of a higher room' src/prune/groups.cpp '#include "cli/args.h"'
expect_fail 'a <...> include of a higher room' src/model/model.cpp '#include <prune/pipeline.h>'
expect_fail 'dist including the algorithm' src/dist/job_abort.cpp '#include "prune/pipeline.h"'
expect_fail 'core including io' src/core/tensor.cpp '#  include "io/atomic_file.h"'
expect_fail 'mpi.h outside dist' src/cli/main.cpp '#include <mpi.h>'
expect_fail 'a CUDA header in the model' src/model/model.cpp '#include <cuda_runtime.h>'
expect_fail 'a cuBLAS header in core outside its CUDA context' src/core/tensor.cpp '#include "cublas_v2.h"'
expect_fail 'NCCL in prune' src/prune/groups.cpp '#include <nccl.h>'
expect_fail 'a CUDA call in prune' src/prune/groups.cpp 'static void* p = nullptr; static int r = cudaMalloc(&p, 4);'
expect_fail 'HDF5 in a public header' include/struprune/struprune.h '#include <hdf5.h>'
fresh
sed -i 's|^add_library(struprune_core|target_include_directories(struprune_core PUBLIC ${PROJECT_SOURCE_DIR}/src)\n&|' \
  "$tmp/copy/src/core/CMakeLists.txt"
if bash "$check" "$tmp/copy" >/dev/null 2>&1; then echo "FAIL: core publishing src/ was not caught"; fail=1; else echo "ok: core publishing src/ caught"; fi
fresh
sed -i 's/struprune_core PRIVATE struprune_headers/struprune_core PUBLIC struprune_headers/' "$tmp/copy/CMakeLists.txt"
if bash "$check" "$tmp/copy" >/dev/null 2>&1; then echo "FAIL: core publishing the headers target was not caught"; fail=1; else echo "ok: core publishing the headers target caught"; fi
fresh
mkdir -p "$tmp/copy/src/newroom" && touch "$tmp/copy/src/newroom/x.cpp"
if bash "$check" "$tmp/copy" >/dev/null 2>&1; then echo "FAIL: an unknown room was not caught"; fail=1; else echo "ok: an unknown room caught"; fi
exit $fail
