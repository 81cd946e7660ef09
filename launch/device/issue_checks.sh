#!/usr/bin/env bash
# One device call for what a session still has to check on a GPU: build the named targets, run the
# ctest regex CHECKS, the forward benchmark (BENCH=1, with bench_forward in TARGETS), then (QUALITY=1) launch/device/refine_quality.sh on the carried model. From the root:
#   DEBS=dir DEVDATA=dir TARGETS="t1 t2" CHECKS="regex" [QUALITY=1 MODEL=ref-llama ...] bash launch/device/issue_checks.sh
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
TAG=issue_checks
# shellcheck source=launch/device/build_targets.sh
. launch/device/build_targets.sh
timeout "${TEST_LIMIT:-200}" ctest --test-dir "$B" -j 6 --timeout 180 --output-on-failure -R "$CHECKS" >"$OUT/tests.log" 2>&1
say "ctest rc=$?"
grep -E "tests passed|\(Failed\)|Timeout|Not Run|Skipped" "$OUT/tests.log" | head -20 | tee -a "$OUT/summary.txt"
cp "$B/Testing/Temporary/LastTest.log" "$OUT/" 2>/dev/null
if [ "${BENCH:-0}" = 1 ]; then
  B="$B" OUT="$OUT" bash launch/device/bench_forward.sh
  say "bench_forward rc=$?"
fi
[ "${QUALITY:-0}" = 1 ] && B="$B" TARGETS=struprune-dist bash launch/device/refine_quality.sh
exit 0
