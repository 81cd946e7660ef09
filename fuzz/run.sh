#!/usr/bin/env bash
# Runs every libFuzzer target for SECONDS each from a seed corpus, and prints the execution counts
# (the table in docs/reliability.md). Builds the `fuzz` preset first (clang, ASan + UBSan).
# usage: fuzz/run.sh SECONDS [TARGET...]     (targets: safetensors model_config tokenizer_json config_yaml journal)
# Environment: STRUPRUNE_SHARED_DIR (default ../shared beside the checkout).
# A crash leaves its input in build/fuzz/artifacts/<target>/ and makes the script exit 1; turn it into a
# unit test (tests/*/ *_fuzz_regressions) before fixing it.
set -euo pipefail
secs="${1:?usage: fuzz/run.sh SECONDS [TARGET...]}"; shift
repo="$(cd "$(dirname "$0")/.." && pwd)"
shared="${STRUPRUNE_SHARED_DIR:-$repo/../shared}"
targets=("$@"); [ ${#targets[@]} -gt 0 ] || targets=(safetensors model_config tokenizer_json config_yaml journal)
build="$repo/build/fuzz"
[ -f "$build/build.ninja" ] || (cd "$repo" && cmake --preset fuzz >/dev/null)
cmake --build "$build" --target $(printf 'fuzz_%s ' "${targets[@]}")
python3 "$repo/fuzz/make_seeds.py" "$repo" "$shared" "$build/seeds"
status=0
printf '%-16s %10s %12s %8s %s\n' target seconds executions cov result
for t in "${targets[@]}"; do
  corpus="$build/corpus/$t"; art="$build/artifacts/$t"; log="$build/logs/$t.log"
  mkdir -p "$corpus" "$art" "$(dirname "$log")"
  rc=0
  "$build/fuzz/fuzz_$t" -max_total_time="$secs" -timeout=25 -rss_limit_mb=4096 -max_len=65536 -print_final_stats=1 \
    -artifact_prefix="$art/" "$corpus" "$build/seeds/$t" >"$log" 2>&1 || rc=$?
  execs="$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)"
  cov="$(grep -o 'cov: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*$')"
  result=ok; [ $rc -eq 0 ] || { result="CRASH (rc $rc, see $log and $art)"; status=1; }
  printf '%-16s %10s %12s %8s %s\n' "$t" "$secs" "${execs:-?}" "${cov:-?}" "$result"
done
exit $status
