#!/usr/bin/env bash
# Issue 9 (d): the LLaMA-2-70B-shaped prune (synthetic weights made on the GPU, 80 layers) under a
# per-rank budget far below the model's 128 GiB, in one device call: bench/prune_scaling.py with
# runtime.memory_budget_gb, while nvidia-smi samples the GPU's memory in use every 0.5 s (an outside
# view of the peak: the allocator's pool, the CUDA context and cuBLAS/cuSOLVER workspaces) next to
# the allocator's own high-water mark in report.json. -> $OUT/run70b.{txt,json}, $OUT/smi70b.csv
#   launch/device/carried.sh bash launch/device/run70b.sh BUDGET_GB NSAMPLES LIMIT_S [--set k=v ...]
set -uo pipefail
B=${1:-40} N=${2:-16} T=${3:-560}
shift 3 || true
TOK=$STRUPRUNE_SHARED_DIR/models/ref-llama/tokenizer.json
CAL=$STRUPRUNE_SHARED_DIR/data/refcorpus/heldout-calib.txt
nvidia-smi --query-gpu=timestamp,memory.used,memory.total --format=csv,noheader -lms 500 >"$OUT/smi70b.csv" 2>/dev/null &
smi=$!
timeout "$T" python3 bench/prune_scaling.py --bin "$BIN/struprune-dist-new" --tokenizer "$TOK" --calib "$CAL" \
  --out /tmp/s70 --shapes llama2-70b --nsamples "$N" --seqlen 2048 --budget-gb "$B" --timeout "$((T - 10))" \
  --tag=-70b "$@" >"$OUT/run70b.txt" 2>&1
echo "70B rc=$?"
kill $smi 2>/dev/null
cp /tmp/s70/scaling-np1-70b.json "$OUT/run70b.json" 2>/dev/null
cp /tmp/s70/llama2-70b-np1-70b.log "$OUT/run70b.log" 2>/dev/null
tail -c 3000 "$OUT/run70b.log" 2>/dev/null
awk -F', ' '{gsub(/ MiB/,"",$2); v = $2 + 0; if (v > m) m = v} END {print "nvidia-smi peak memory.used MiB:", m}' "$OUT/smi70b.csv"
grep -E "^llama2-70b" "$OUT/run70b.txt"
