# shellcheck shell=bash
# Sourced by device scripts: the carried -dev packages (deps.sh), then a Release CUDA build of TARGETS in
# $B (configured on first use; a warm machine keeps it), log in $OUT/build.log. Needs OUT and `say`.
# shellcheck source=launch/device/deps.sh
. launch/device/deps.sh
B="${B:-build/device}"
[ -f "$B/build.ninja" ] ||
  cmake -S . -B "$B" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_ARCHITECTURES=90 -DSTRUPRUNE_WERROR=OFF \
    -DSTRUPRUNE_BENCH=OFF "${EXTRA[@]}" >"$OUT/build.log" 2>&1
# shellcheck disable=SC2086
timeout "${BUILD_LIMIT:-240}" ninja -C "$B" -j"$(nproc)" ${TARGETS:-struprune-dist} >>"$OUT/build.log" 2>&1
say "build rc=$?"
grep -E "^FAILED|error:" "$OUT/build.log" | head -10 | tee -a "$OUT/summary.txt"
