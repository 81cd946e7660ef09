#!/usr/bin/env bash
# Set-up + build + run on the embedded default (examples/: stories260K, a real pretrained tiny LLaMA,
# and ~20 KB of Shakespeare). Runs in seconds on a CPU.  usage: launch/quickstart.sh [PRESET]
# Builds only the struprune-dist target, in the tree launch/test.sh then reuses (same default preset,
# launch/preset.sh: `default` with the CUDA backend when a GPU is visible and nvcc is installed,
# else `cpu-only`). With the CUDA backend and a visible GPU it runs on the GPU.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=launch/preset.sh
. launch/preset.sh
preset="${1:-$(sp_default_preset)}"
./launch/setup.sh "$preset" struprune-dist
bin="build/$preset/src/cli/struprune-dist"
cfg=configs/quickstart.yaml
out=out/quickstart
# auto: the GPU when the binary has the CUDA backend and a GPU is visible, else the CPU.
device=cpu
sp_gpu_visible && device=auto
echo "== preset $preset (build/$preset), runtime.device $device"
run() { "$bin" "$@" --set runtime.device="$device"; }

echo "== validate the config, model and data and print the plan (--dry-run)"
run "$cfg" --dry-run

echo "== evaluate the embedded model (perplexity on the embedded text)"
run eval "$cfg" --set output.dir="$out/eval-dense"

echo "== prune 20% of the attention + MLP parameters (StructPrune: OBS removal curves calibrated by their"
echo "   measured effect on the output, tempered ADMM allocation, least-squares refit)"
run "$cfg" --set output.dir="$out"

echo "== the pruned checkpoint reloads and gives the reported perplexity"
run eval "$cfg" --set model.path="$out/model" --set output.dir="$out/eval-pruned"

echo "quickstart: outputs in $(pwd)/$out:"
ls -1 "$out" | sed "s|^|  $(pwd)/$out/|"
