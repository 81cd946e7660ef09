#!/usr/bin/env bash
# Issue 9's one-GPU checks in one call of at most 600 s (through carried.sh after one_gpu.sh's pack),
# most valuable first, each writing under $OUT as it ends: the GPU tests (cuda variants), the
# LLaMA-2-7B-shaped prune (32 layers, profile_prune.sh, new binary only), the host-resident hidden
# states against device-resident ones (host_states_check.sh), then the 70B-shaped prune under a 40 GiB
# budget (run70b.sh, no journal: the disk holds 64 GB) in the time left.
set -uo pipefail
cd "$(dirname "$0")/../.."
t0=$SECONDS
STEPS=tests bash launch/device/one_gpu.sh
BASE=0 bash launch/device/profile_prune.sh 32
rm -f "$OUT/gpu.txt" "$OUT/run-new.txt"  # at most 8 files come back (phases.json has the run)
bash launch/device/host_states_check.sh
left=$((${LIMIT_S:-585} - (SECONDS - t0)))
echo "70B limit ${left}s"
bash launch/device/run70b.sh 40 16 "$left" --set prune.probe_windows=1 --set prune.obs_step=1792 --set output.journal=false
