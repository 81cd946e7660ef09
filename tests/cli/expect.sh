#!/usr/bin/env bash
# End-to-end check of a command: exit code and output patterns.
# usage: expect.sh [--shared] [--write-config TEXT] [--corrupt-model] [--rc N|nonzero] [--out REGEX]... -- CMD...
#   --shared         skip (exit 77) without the shared models; @SHARED@ in CMD becomes their folder
#   --write-config   write TEXT (printf escapes) to a fresh YAML file; @CONFIG@ in CMD becomes its path
#   --corrupt-model KIND  a broken copy of examples/stories260K (make_corrupt_model.py KIND) and a
#                    config using it (@CONFIG@); @OUTDIR@ in CMD and patterns becomes a fresh output folder,
#                    which must still be empty (no partial output) when the command has failed
#   --repo-shared    skip (exit 77) unless ../shared beside the checkout exists (what configs/ point at)
#   --outdir         @OUTDIR@ in CMD becomes a fresh output folder, which must be empty (or absent) when
#                    the command has failed: no partial output (unless --untouched covers it); @WORK@
#                    becomes the fresh folder that holds it (for siblings of output.dir)
#   --setup CMD      bash CMD run before anything is recorded (placeholders as in CMD); exit 77 skips
#   --cleanup CMD    bash CMD run when this script ends, whatever happened (e.g. an umount)
#   --untouched DIR  every file and folder under DIR (names, types, link targets, sha256 of the
#                    contents; a resume journal, .journal, aside) must be the same after the command as
#                    before it, after --setup; repeatable
# Environment: SP_WORK (scratch folder), SP_REPO (source tree), STRUPRUNE_SHARED_DIR[_DEFAULT].
set -uo pipefail
want_rc=0; patterns=(); shared=""; config=""; outdir=""; work=""; setup=""; cleanup=""; untouched=()
mkdir -p "$SP_WORK"
while [ $# -gt 0 ]; do
  case "$1" in
    --rc) want_rc="$2"; shift 2 ;;
    --out) patterns+=("$2"); shift 2 ;;
    --shared)
      shared="${STRUPRUNE_SHARED_DIR:-$STRUPRUNE_SHARED_DIR_DEFAULT}"
      if [ ! -d "$shared/models" ]; then echo "SKIP: shared models not found in $shared (set STRUPRUNE_SHARED_DIR)"; exit 77; fi
      shift ;;
    --repo-shared)
      if [ ! -d "$SP_REPO/../shared/models" ]; then echo "SKIP: $SP_REPO/../shared not found (configs/ point there)"; exit 77; fi
      shift ;;
    --write-config)
      config="$(mktemp "$SP_WORK/config-XXXXXX.yaml")"; printf "$2" > "$config"; shift 2 ;;
    --corrupt-model)
      dir="$(mktemp -d "$SP_WORK/corrupt-$2-XXXXXX")"
      python3 "$(dirname "$0")/make_corrupt_model.py" "$2" "$SP_REPO/examples/stories260K" "$dir" || exit 1
      config="$dir/run.yaml"; outdir="$dir/out"
      printf "model: {path: .}\ncalibration: {path: %s/examples/calib.txt}\n" "$SP_REPO" > "$config"
      printf "eval: {datasets: [{name: t, path: %s/examples/calib.txt, format: text}], seqlen: 128}\n" "$SP_REPO" >> "$config"
      shift 2 ;;
    --outdir)
      work="$(mktemp -d "$SP_WORK/out-XXXXXX")"; outdir="$work/out"; shift ;;
    --setup) setup="$2"; shift 2 ;;
    --cleanup) cleanup="$2"; shift 2 ;;
    --untouched) untouched+=("$2"); shift 2 ;;
    --) shift; break ;;
    *) echo "expect.sh: unknown option $1"; exit 64 ;;
  esac
done
subst() { local a="${1//@SHARED@/$shared}"; a="${a//@OUTDIR@/$outdir}"; a="${a//@WORK@/$work}"; printf '%s' "${a//@CONFIG@/$config}"; }
cmd=()
for a in "$@"; do cmd+=("$(subst "$a")"); done
# Every shared file the command names must be there (a partial copy, e.g. on the GPU machine, skips).
if [ -n "$shared" ]; then
  for p in $(printf '%s\n' "${cmd[@]}" | grep -o "$shared/[^ ,}=]*" | sort -u); do
    [ -e "$p" ] || { echo "SKIP: shared file not found: $p"; exit 77; }
  done
fi

# A folder as a sorted listing (type, name, link target) and the sha256 of every file; a resume
# journal (.journal) is left out: a run that failed after pass 1 keeps one for --resume.
snapshot() {
  [ -e "$1" ] || { echo "ABSENT"; return; }
  (cd "$1" && find . -mindepth 1 -path ./.journal -prune -o -printf '%y %p %l\n' | LC_ALL=C sort &&
   find . -path ./.journal -prune -o -type f -print0 | LC_ALL=C sort -z | xargs -0r sha256sum)
}
if [ -n "$cleanup" ]; then cleanup="$(subst "$cleanup")"; trap 'bash -c "$cleanup"' EXIT; fi
if [ -n "$setup" ]; then
  setup="$(subst "$setup")"; echo "+ setup: $setup"
  bash -c "$setup"; src=$?
  [ $src -eq 77 ] && exit 77
  [ $src -eq 0 ] || { echo "FAIL: setup exited with $src"; exit 1; }
fi
declare -A before
for i in "${!untouched[@]}"; do
  untouched[$i]="$(subst "${untouched[$i]}")"
  before[$i]="$(snapshot "${untouched[$i]}")"
  echo "untouched: ${untouched[$i]} ($(grep -c '^[0-9a-f]\{64\} ' <<<"${before[$i]}") files)"
done

echo "+ ${cmd[*]}"
out="$("${cmd[@]}" 2>&1)"; rc=$?
echo "$out"
echo "exit code: $rc (expected $want_rc)"
if [ "$want_rc" = nonzero ]; then [ $rc -ne 0 ] || { echo "FAIL: expected a non-zero exit code"; exit 1; }
elif [ $rc -ne "$want_rc" ]; then echo "FAIL: exit code"; exit 1; fi
for p in "${patterns[@]}"; do
  grep -Eq -- "$p" <<<"$out" || { echo "FAIL: output does not match /$p/"; exit 1; }
done
for i in "${!untouched[@]}"; do
  after="$(snapshot "${untouched[$i]}")"
  if [ "$after" != "${before[$i]}" ]; then
    echo "FAIL: ${untouched[$i]} changed:"; diff <(echo "${before[$i]}") <(echo "$after"); exit 1
  fi
  [ "${untouched[$i]}" = "$outdir" ] && outdir=""  # checked: nothing added, changed or removed
done
# The resume journal (.journal) is not an output: a run that failed after pass 1 keeps it for --resume.
if [ -n "$outdir" ] && [ $rc -ne 0 ] && [ -n "$(ls -A "$outdir" 2>/dev/null | grep -vx '\.journal')" ]; then
  echo "FAIL: a failed run left output in $outdir:"; ls -la "$outdir"; exit 1
fi
echo "PASS"
