#!/usr/bin/env bash
# Set-up + build + run on the embedded default (examples/: stories260K, a real pretrained tiny LLaMA,
# and ~20 KB of Shakespeare). Runs in seconds on a CPU.  usage: launch/quickstart.sh [PRESET]
# (default preset: cpu-only; use `default` to build the CUDA backend too).
set -euo pipefail
cd "$(dirname "$0")/.."
preset="${1:-cpu-only}"
./launch/setup.sh "$preset"
bin="build/$preset/src/cli/struprune-dist"
cfg=configs/quickstart.yaml
out=out/quickstart

echo "== validate the config, model and data and print the plan (--dry-run)"
"$bin" "$cfg" --dry-run

echo "== evaluate the embedded model (perplexity on the embedded text)"
"$bin" eval "$cfg" --set output.dir="$out/eval-dense"

echo "== prune 20% of the attention + MLP parameters (StructPrune: OBS removal curves calibrated by their"
echo "   measured effect on the output, tempered ADMM allocation, least-squares refit)"
"$bin" "$cfg" --set output.dir="$out"

echo "== the pruned checkpoint reloads and gives the reported perplexity"
"$bin" eval "$cfg" --set model.path="$out/model" --set output.dir="$out/eval-pruned"

echo "quickstart: outputs in $(pwd)/$out:"
ls -1 "$out" | sed "s|^|  $(pwd)/$out/|"
