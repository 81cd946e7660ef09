#!/usr/bin/env bash
# Device check (issue 11): a prune.uniform_shape compact checkpoint of ref-llama (50%) is a stock Hugging
# Face checkpoint: transformers' AutoModelForCausalLM loads it and gets our perplexity. Builds first.
set -uo pipefail
cd "$(dirname "$0")/../.."
BENCH=0 SANITIZE=0 TEST_LIMIT=1 bash launch/device/ci_gpu.sh >/dev/null 2>&1
export LD_LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu
M=$PWD/devdata/models/ref-llama D=$PWD/devdata/data/refcorpus
for v in "uniform_shape:" "uniform_shape_round_to_8:--set prune.round_to=8"; do
  name=${v%%:*} extra=${v#*:}
  cat >/tmp/$name.yaml <<YAML
model: {path: $M}
calibration: {path: $D/heldout-calib.txt, format: text, nsamples: 16, seqlen: 512, seed: 0}
prune: {sparsity: 0.5, uniform_shape: true}
runtime: {device: cuda, precision: fp32}
output: {dir: /tmp/$name, checkpoint: compact, overwrite: true}
eval: {datasets: [{name: heldout, path: $D/heldout-eval.txt, format: text}], seqlen: 1024}
YAML
  # shellcheck disable=SC2086
  timeout 90 build/device/src/cli/struprune-dist /tmp/$name.yaml $extra >"$OUT/$name.log" 2>&1
  echo "$name prune rc=$? $(grep -c struprune_layers /tmp/$name/model/config.json 2>/dev/null) struprune_layers keys"
  cp /tmp/$name/model/config.json "$OUT/$name-config.json" 2>/dev/null
  timeout 90 python3 tests/interop/hf_load_pruned.py $D/heldout-eval.txt /tmp/$name --json "$OUT/$name-hf.json" 2>&1 | tail -4
done
