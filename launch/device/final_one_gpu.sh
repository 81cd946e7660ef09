#!/usr/bin/env bash
# The last one-GPU call of issue 9 within 600 s (through carried.sh after one_gpu.sh's pack): the GPU
# tests (cuda variants), the LLaMA-2-7B-shaped prune (32 layers, profile_prune.sh) and then the
# 70B-shaped prune under a 40 GiB budget (run70b.sh, no journal: the disk holds 64 GB) in the time left.
set -uo pipefail
cd "$(dirname "$0")/../.."
t0=$SECONDS
STEPS=tests bash launch/device/one_gpu.sh
STEPS=profile bash launch/device/one_gpu.sh 32
rm -f "$OUT/gpu.txt"  # at most 8 files come back
left=$((588 - (SECONDS - t0)))
echo "70B limit ${left}s"
bash launch/device/run70b.sh 40 16 "$left" --set prune.probe_windows=1 --set prune.obs_step=1792 --set output.journal=false
