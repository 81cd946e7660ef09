#!/usr/bin/env bash
# Set-up + build + run on the embedded default (examples/: stories260K, a real pretrained tiny LLaMA,
# and two ~20 KB Shakespeare texts: calibration, and held-out text for the perplexity). Runs in seconds
# on a CPU and ends with a summary: what was removed, perplexity before / after on the held-out text,
# the time, and the next commands.  usage: launch/quickstart.sh [PRESET]
# Builds only the struprune-dist target, in the tree launch/test.sh then reuses (same default preset,
# launch/preset.sh: `default` with the CUDA backend when a GPU is visible and nvcc is installed,
# else `cpu-only`). With the CUDA backend and a visible GPU it runs on the GPU.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=launch/preset.sh
. launch/preset.sh
preset="${1:-$(sp_default_preset)}"
start=$SECONDS
./launch/setup.sh "$preset" struprune-dist
built=$SECONDS
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

echo "== evaluate the embedded model (perplexity on the held-out text)"
run eval "$cfg" --set output.dir="$out/eval-dense"

echo "== prune 20% of the attention + MLP parameters (StructPrune: OBS removal curves calibrated by their"
echo "   measured effect on the output, tempered ADMM allocation, least-squares refit); also writes the pruned model"
echo "   as a GGUF for llama.cpp (output.gguf=f32)"
mkdir -p "$(dirname "$out")"
log="$out.log"
t=$SECONDS
run "$cfg" --set output.dir="$out" --set output.gguf=f32 | tee "$log"
pruned_s=$((SECONDS - t))

echo "== the pruned checkpoint reloads and gives the reported perplexity"
run eval "$cfg" --set model.path="$out/model" --set output.dir="$out/eval-pruned"

echo "quickstart: outputs in $(pwd)/$out:"
ls -1 "$out" | sed "s|^|  $(pwd)/$out/|"

# The summary, from the prune's own lines (tests/cli: cli_prune_quickstart checks their wording).
read -r _ before after < <(grep -E '^heldout ' "$log")
read -r removed prunable target < <(sed -nE 's/^pruned ([0-9]+) of ([0-9]+) prunable parameters: .*\(target ([0-9.]+)\)$/\1 \2 \3/p' "$log")
read -r total left fewer < <(sed -nE 's/^model: ([0-9]+) -> ([0-9]+) parameters \(([0-9.]+)% fewer\)$/\1 \2 \3/p' "$log")
echo
echo "== summary"
echo "removed: $removed of the $prunable prunable attention + MLP parameters (target $target); the model: $total -> $left parameters ($fewer% fewer)"
grep -E '^kept per layer' "$log"
awk -v b="$before" -v a="$after" 'BEGIN { printf "perplexity on held-out text (examples/heldout.txt; calibration: examples/calib.txt): %.2f before, %.2f after (%+.1f%%)\n", b, a, 100 * (a - b) / b }'
if awk -v b="$before" -v a="$after" 'BEGIN { exit !(a < b) }'; then
  echo "  lower after pruning: the least-squares refit adapts the kept weights to Shakespeare (the calibration text), which"
  echo "  stories260K (trained on children's stories) never saw; without it (--set prune.reconstruct=false) perplexity rises"
fi
echo "time: build $((built - start)) s, prune $pruned_s s, quickstart $((SECONDS - start)) s in all (preset $preset)"
echo "next:"
echo "  your own text:    $bin eval $cfg --set model.path=$out/model \\"
echo "                      --set 'eval.datasets=[{name: mine, path: my.txt}]' --set output.dir=out/mine"
as_root=""; [ "$(id -u)" -eq 0 ] && as_root=" --allow-run-as-root"  # Open MPI refuses root without it
echo "  2 MPI ranks:      mpirun$as_root -np 2 $bin $cfg --set output.dir=out/quickstart-np2"
echo "  generate:         $bin generate $cfg --set model.path=$out/model --prompt 'Once upon a time'"
echo "  speed:            $bin bench $cfg --set model.path=$out/model --baseline examples/stories260K"
[ -f "$out/model.gguf" ] &&
  echo "  llama.cpp:        llama-cli -m $out/model.gguf -p 'Once upon a time'   (the GGUF this run wrote)"
if grep -q struprune_layers "$out/model/config.json"; then
  echo "  transformers:     AutoModelForCausalLM.from_pretrained(\"$out/model\", trust_remote_code=True)"
  echo "                    (per-layer shapes: transformers' own LLaMA layers, built per layer by the modeling_struprune.py"
  echo "                    written beside the weights; --set prune.uniform_shape=true gives a stock checkpoint instead)"
else
  echo "  transformers:     AutoModelForCausalLM.from_pretrained(\"$out/model\") (stock shapes)"
fi
