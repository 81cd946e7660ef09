#!/usr/bin/env bash
# Device check (issue 23): compact checkpoints with per-layer shapes load in stock transformers through
# the modeling file the tool writes. Prunes MODEL (ref-llama or ref-opt: one per call, the carry limit)
# at 30% and 50% (compact, admm, the shipped recipe, 128 x 1024 calibration tokens) on the GPU, loads
# each with AutoModelForCausalLM.from_pretrained(trust_remote_code=True) on the GPU and requires our
# perplexity (relative difference < 1e-5, fp32, no TF32), our `generate` ids, a save_pretrained round
# trip and a PEFT LoRA step that lowers the loss (tests/interop/hf_pruned_checkpoints.py).
#   launch/device/hf_per_layer.sh MODEL        (devdata/models/MODEL and devdata/data/refcorpus carried)
set -uo pipefail
cd "$(dirname "$0")/../.."
MODEL=${1:-ref-llama}
OUT="${OUT:-$PWD/out/device}"
mkdir -p "$OUT"
BENCH=0 SANITIZE=0 TEST_LIMIT=1 bash launch/device/ci_gpu.sh >"$OUT/build.log" 2>&1
export LD_LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu
nvidia-smi -L >"$OUT/gpu.txt"
python3 -c "import transformers, torch, peft; print('transformers', transformers.__version__, 'torch', torch.__version__, 'peft', peft.__version__)" >>"$OUT/gpu.txt" 2>&1
timeout 500 python3 tests/interop/hf_pruned_checkpoints.py --bin build/device/src/cli/struprune-dist --repo . \
  --shared "$PWD/devdata" --work /tmp/hf-per-layer --models "$MODEL" --nsamples 128 --seqlen 1024 --windows 0 \
  --json "$OUT/$MODEL" 2>&1 | grep -v "Loading weights\|Writing model" | tee "$OUT/$MODEL.log" | tail -40
