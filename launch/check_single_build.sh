#!/usr/bin/env bash
# After `launch/quickstart.sh [PRESET]` then `launch/test.sh [PRESET]`: checks that the tree was
# configured once and nothing was compiled twice (the tests reused the quickstart's build).
#   usage: launch/check_single_build.sh [PRESET]   (default: the one both scripts pick)
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=launch/preset.sh
. launch/preset.sh
dir="build/${1:-$(sp_default_preset)}"
fail() { echo "check_single_build: FAIL: $*"; exit 1; }
[ -f "$dir/setup.log" ] || fail "$dir/setup.log not found: run launch/quickstart.sh and launch/test.sh first"
configures="$(grep -c '^configure' "$dir/setup.log" || true)"
[ "$configures" -eq 1 ] || fail "$dir was configured $configures times (setup.log):$(printf '\n'; cat "$dir/setup.log")"
# .ninja_log (format v5: start end mtime output hash) gains a line each time an output is rebuilt.
twice="$(awk -F'\t' 'NR > 1 { n[$4]++ } END { for (o in n) if (n[o] > 1) print o }' "$dir/.ninja_log" | head)"
[ -z "$twice" ] || fail "built more than once: $twice"
# ninja's dry run: everything is up to date (no CMake re-run, nothing left to build).
left="$(ninja -C "$dir" -n | grep -v '^ninja: ' || true)"
[ -z "$left" ] || fail "the tree is not up to date: $left"
echo "check_single_build: $dir configured once, $(awk 'NR > 1' "$dir/.ninja_log" | wc -l) outputs each built once: $(grep -c '^build' "$dir/setup.log") builds ($(grep '^build' "$dir/setup.log" | cut -d' ' -f2 | paste -sd,))"
