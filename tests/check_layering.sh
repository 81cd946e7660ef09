#!/usr/bin/env bash
# Layering guard: model / prune / tokenize / io / cli code never mentions CUDA, cuBLAS or NCCL
# (only src/kernels/cuda, the device layer in src/core and src/dist may), and lower layers never
# include higher ones. Run by ctest.
set -u
root="$(cd "$(dirname "$0")/.." && pwd)"
fail=0
hits=$(grep -rniE '#include *<(cuda|cublas|cusolver|nccl)|__global__|cudaMalloc|cublas[A-Z]|nccl[A-Z]' \
  "$root/src/model" "$root/src/prune" "$root/src/tokenize" "$root/src/io" "$root/src/cli" 2>/dev/null)
if [ -n "$hits" ]; then echo "CUDA mentioned outside kernels/cuda, core device layer and dist:"; echo "$hits"; fail=1; fi
pub=$(grep -rnE '#include *[<"](cuda|cublas|cusolver|nccl|mpi|hdf5|H5)' "$root/include" 2>/dev/null)
if [ -n "$pub" ]; then echo "public headers must not expose CUDA/MPI/HDF5:"; echo "$pub"; fail=1; fi
# Dependency order: core < io < kernels < tokenize < model < prune < dist < cli.
order=(core io kernels tokenize model prune dist cli)
for i in "${!order[@]}"; do
  for j in "${!order[@]}"; do
    [ "$j" -le "$i" ] && continue
    bad=$(grep -rn "#include \"${order[$j]}/" "$root/src/${order[$i]}" 2>/dev/null)
    if [ -n "$bad" ]; then echo "src/${order[$i]} includes the higher layer ${order[$j]}:"; echo "$bad"; fail=1; fi
  done
done
[ $fail -eq 0 ] && echo "layering OK"
exit $fail
