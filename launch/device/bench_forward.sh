#!/usr/bin/env bash
# The engine forward benchmark of docs/benchmarks.md on the device (7B layer shapes, and ref-llama's when
# the carried data has it; bf16). Called by the check scripts with B (build folder) and OUT set.
set -uo pipefail
[ -x "$B/bench/bench_forward" ] || { echo "bench_forward: $B/bench/bench_forward not built"; exit 1; }
ARGS=(--iters 20 --model llama2-7b:bench/configs/llama2-7b.json:2048:1,4)
[ -f "${STRUPRUNE_SHARED_DIR:-}/models/ref-llama/config.json" ] &&
  ARGS+=(--model "ref-llama:$STRUPRUNE_SHARED_DIR/models/ref-llama/config.json:1024:1,8")
timeout 150 "$B/bench/bench_forward" "${ARGS[@]}" --json "$OUT/bench_forward.json" >"$OUT/bench_forward.txt" 2>&1
