#!/usr/bin/env bash
# A sweep that summarises itself: submits sweep.sbatch as an array with one task per line of the
# sweep file, then launch/slurm/summarise as a job that starts once every task has ended
# (--dependency=afterany), writing summary.csv and summary.png into the sweep folder.
#   launch/slurm/sweep.sh [--wait] [CONFIG.yaml] [SWEEP.txt] [-- SBATCH_OPTION...]
# defaults: configs/ref-llama.yaml, configs/sweep.txt. SBATCH_OPTIONs go to the array job (e.g.
# --partition=gpu --cpus-per-task=4); the summary job asks for one CPU and takes the partition /
# account from sbatch's own SBATCH_PARTITION / SBATCH_ACCOUNT. With --wait the script returns when
# the summary has been written, with its exit status (1 when a task failed; summarise names it).
# Run from the repository root. Outputs: ${STRUPRUNE_SWEEP_OUT:-out/sweep-<array job id>}/.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
wait=()
if [ "${1:-}" = --wait ]; then wait=(--wait); shift; fi
cfg=configs/ref-llama.yaml
sweep=configs/sweep.txt
if [ $# -gt 0 ] && [ "$1" != -- ]; then cfg="$1"; shift; fi
if [ $# -gt 0 ] && [ "$1" != -- ]; then sweep="$1"; shift; fi
[ "${1:-}" = -- ] && shift
[ -f "$sweep" ] || { echo "sweep: $sweep: no such file" >&2; exit 2; }

tasks="$(grep -c . "$sweep" || true)"
[ "$tasks" -gt 0 ] || { echo "sweep: $sweep has no lines" >&2; exit 2; }
array="$(sbatch --parsable --array="0-$((tasks - 1))" "$@" "$here/sweep.sbatch" "$cfg" "$sweep")"
array="${array%%;*}"   # --parsable prints "id" or "id;cluster"
out="${STRUPRUNE_SWEEP_OUT:-out/sweep-$array}"
echo "sweep: array job $array, $tasks tasks ($sweep) -> $out"

mkdir -p "$out"   # the summary job's log goes there (the tasks create it too)
rc=0
sbatch --parsable "${wait[@]}" --dependency="afterany:$array" --job-name=struprune-summary \
  --ntasks=1 --cpus-per-task=1 --output="$out/summary-%j.out" \
  --wrap "python3 '$here/summarise' '$out' --tasks $tasks" |
  sed -u "s|^\([0-9]*\).*|sweep: summary job \1 after $array: $out/summary.csv, summary.png, summary-\1.out|" || rc=$?
exit $rc
