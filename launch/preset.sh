# shellcheck shell=bash
# Sourced by launch/quickstart.sh and launch/test.sh: the CMake preset both use when none is given,
# so that a quickstart followed by the tests configures and builds one tree (build/<preset>).
#   sp_gpu_visible       exit 0 when nvidia-smi lists a GPU
#   sp_default_preset    `default` (CUDA backend) when a GPU is visible and nvcc is installed,
#                        else `cpu-only`
sp_gpu_visible() { nvidia-smi -L 2>/dev/null | grep -q '^GPU'; }
sp_nvcc_found() { command -v nvcc >/dev/null || [ -x /usr/local/cuda/bin/nvcc ]; }
sp_default_preset() {
  if sp_gpu_visible && sp_nvcc_found; then
    echo default
  else
    sp_gpu_visible && echo "note: a GPU is visible but nvcc is not installed: building the CPU backend only" >&2
    echo cpu-only
  fi
}
