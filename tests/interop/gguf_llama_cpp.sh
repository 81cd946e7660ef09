#!/usr/bin/env bash
# llama.cpp reads our GGUF export and computes what our engine computes (ctest label interop).
# llama.cpp comes from the llama-cpp-python source distribution on PyPI (pinned; it vendors
# llama.cpp and builds it, CPU-only, on install: 1237 s on 2 busy cores the first time, then pip's
# wheel cache makes a reinstall take about 25 s). Exit 77 (skip) only when pip cannot install it.
# Three models, each exported, evaluated by `eval` and by llama.cpp over the same windows
# (perplexity relative difference < 1e-4) and tokenized by both (identical ids):
#   1. the quickstart (examples/stories260K pruned by configs/quickstart.yaml, output.gguf: f32);
#   2. ref-llama pruned to 50% with per-layer shapes (deci architecture, F32; needs ../shared);
#   3. stories260K hand-pruned to every per-layer case (layers without attention / MLP / both), and
#      the same with a bias on every projection.
#   gguf_llama_cpp.sh STRUPRUNE_BIN      (env: SP_WORK, SP_REPO, STRUPRUNE_SHARED_DIR[_DEFAULT])
set -euo pipefail
bin=$1
repo=$SP_REPO
here="$(cd "$(dirname "$0")" && pwd)"
py=${STRUPRUNE_PYTHON:-python3}
shared="${STRUPRUNE_SHARED_DIR:-${STRUPRUNE_SHARED_DIR_DEFAULT:-$repo/../shared}}"
w="$SP_WORK/gguf-llama-cpp"
rm -rf "$w" && mkdir -p "$w"

"$here/install_llama_cpp.sh" "$py" || { echo "SKIP: pip could not install llama-cpp-python"; exit 77; }
"$py" -c "import gguf, numpy" 2>/dev/null || "$py" -m pip install -q --disable-pip-version-check \
  --root-user-action=ignore gguf numpy || { echo "SKIP: pip could not install gguf"; exit 77; }

cpu=(--set runtime.device=cpu --set runtime.precision=fp32)
# prep NAME MODEL_DIR TEXT SEQLEN MAX_WINDOWS: our `eval` and `tokenize` of TEXT on MODEL_DIR.
prep() {
  local name=$1 model=$2 text=$3 seqlen=$4 maxw=$5
  printf "model: {path: %s}\ncalibration: {path: %s, format: text}\n" "$model" "$text" >"$w/$name.yaml"
  printf "eval: {datasets: [{name: t, path: %s, format: text}], seqlen: %s, max_windows: %s}\n" \
    "$text" "$seqlen" "$maxw" >>"$w/$name.yaml"
  "$bin" eval "$w/$name.yaml" --set output.dir="$w/$name-eval" "${cpu[@]}"
  "$bin" tokenize "$w/$name.yaml" --set output.dir="$w/$name-ids"
}
# check NAME GGUF ARCH TEXT [TOL]: llama.cpp on GGUF against prep NAME's results.
check() {
  "$py" "$here/gguf_llama_cpp.py" compare "$2" "$w/$1-eval/report.json" t "$w/$1-ids/t.npy" "$4" --arch "$3" \
    --tol "${5:-1e-4}"
}
run() {
  prep "$1" "$2" "$5" "$6" "$7"
  check "$1" "$3" "$4" "$5"
}

# 1. The quickstart's pruned model (uniform or not, whatever the allocation gave).
"$bin" prune "$repo/configs/quickstart.yaml" --set output.dir="$w/qs" --set output.gguf=f32 "${cpu[@]}"
test -s "$w/qs/model.gguf"
run quickstart "$w/qs/model" "$w/qs/model.gguf" "" "$repo/examples/calib.txt" 256 0

# 3. Every per-layer case of the deci architecture, exported by the `export` command.
"$py" "$here/gguf_llama_cpp.py" edge-model "$repo/examples/stories260K" "$w/edge"
printf "model: {path: %s}\n" "$w/edge" >"$w/edge-export.yaml"
"$bin" export "$w/edge-export.yaml" --format gguf --out "$w/edge.gguf"
run edge "$w/edge" "$w/edge.gguf" deci "$repo/examples/calib.txt" 128 8
# ... with a bias on every projection (llama.cpp's optional bias tensors; the removed blocks' biases).
"$py" "$here/gguf_llama_cpp.py" edge-model --biases "$repo/examples/stories260K" "$w/edge-bias"
printf "model: {path: %s}\n" "$w/edge-bias" >"$w/edge-bias-export.yaml"
"$bin" export "$w/edge-bias-export.yaml" --format gguf --out "$w/edge-bias.gguf"
run edge-bias "$w/edge-bias" "$w/edge-bias.gguf" deci "$repo/examples/calib.txt" 128 8

# F16 and BF16 files of the dense stories260K: llama.cpp runs them; the perplexity moves only by the
# rounding of the weights (relative difference < 2e-3 from our F32 evaluation; measured 3e-5 F16,
# 4e-4 BF16).
prep dense "$repo/examples/stories260K" "$repo/examples/calib.txt" 128 8
for t in f16 bf16; do
  "$bin" export "$repo/configs/quickstart.yaml" --format gguf --set output.gguf=$t --out "$w/dense-$t.gguf"
  check dense "$w/dense-$t.gguf" llama "$repo/examples/calib.txt" 2e-3
done

# 2. ref-llama (LLaMA-2 SentencePiece tokenizer, GQA) pruned with per-layer shapes.
if [ -f "$shared/models/ref-llama/tokenizer.json" ]; then
  cat >"$w/rl-prune.yaml" <<YAML
model: {path: $shared/models/ref-llama}
calibration: {path: $repo/examples/calib.txt, format: text, nsamples: 8, seqlen: 128}
prune: {sparsity: 0.5, structures: {attention: kv_groups, mlp: true}, allocation: admm}
output: {dir: $w/rl, overwrite: true, gguf: f32, journal: false}
YAML
  "$bin" prune "$w/rl-prune.yaml" "${cpu[@]}"
  text="$shared/data/refcorpus/heldout-eval.txt"
  [ -f "$text" ] || text="$repo/examples/calib.txt"
  run ref-llama "$w/rl/model" "$w/rl/model.gguf" deci "$text" 128 8
else
  echo "note: $shared/models/ref-llama/tokenizer.json not found: the ref-llama case is not run"
fi
echo "gguf_llama_cpp: all cases agree"
