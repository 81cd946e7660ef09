#!/usr/bin/env bash
# Where a decode step's time goes (issue 26): the dense 7B-shaped model (4 layers, synthetic, bf16)
# benched at batch 1, prompt 512, under Nsight Systems with the CUDA graph traced node by node; the
# kernel summary and the CUDA API summary -> $OUT/decode-kernels.txt, $OUT/decode-api.txt.
#   DEBS=dir DEVDATA=dir bash launch/device/decode_profile.sh
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
TAG=decode_profile
TARGETS=struprune-dist
# shellcheck source=launch/device/build_targets.sh
. launch/device/build_targets.sh
NSYS=$(command -v nsys || ls /usr/local/cuda/bin/nsys /opt/nvidia/nsight-systems/*/bin/nsys 2>/dev/null | head -1)
[ -n "$NSYS" ] || { say "no nsys on this machine"; exit 0; }
M=/tmp/dense7b && mkdir -p $M
python3 - "$M" <<'PY'
import json, sys
c = json.load(open("bench/configs/llama2-7b.json")); c.pop("_comment", None); c["num_hidden_layers"] = 4
json.dump(c, open(sys.argv[1] + "/config.json", "w"))
PY
cat >/tmp/prof.yaml <<YAML
model: {path: $M, synthetic: true, tokenizer: $STRUPRUNE_SHARED_DIR/models/ref-llama/tokenizer.json}
runtime: {device: cuda, precision: bf16}
output: {dir: /tmp/prof-out, overwrite: true}
bench: {batch: [1], prompt: [512], generate: 64, repeats: 1, warmup: 0}
YAML
timeout 150 "$NSYS" profile -o /tmp/decode --force-overwrite true --trace=cuda --cuda-graph-trace=node \
  "$B/src/cli/struprune-dist" bench /tmp/prof.yaml >"$OUT/nsys.log" 2>&1
say "nsys rc=$?"
"$NSYS" stats --report cuda_gpu_kern_sum --format csv /tmp/decode.nsys-rep >"$OUT/decode-kernels.txt" 2>&1
"$NSYS" stats --report cuda_api_sum --format csv /tmp/decode.nsys-rep >"$OUT/decode-api.txt" 2>&1
head -30 "$OUT/decode-kernels.txt" | cut -c1-220
