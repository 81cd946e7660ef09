#!/usr/bin/env bash
# End-to-end checks of issue 25's "one run per output folder" and "resume that cannot mix runs" on
# the embedded stories260K (configs/quickstart.yaml, shortened). Every refused run must exit with the
# named status and message, and leave every file it could reach byte for byte as it was: a folder
# beside output.dir, the earlier outputs inside it and the journal itself (checksums before / after).
# usage: run_safety.sh CASE BIN [MPIRUN...]
#   CASE: lock_live | lock_live_np2 | lock_stale | lock_remote | journal
# Environment: SP_WORK (scratch folder), SP_REPO (source tree).
set -uo pipefail
case_="$1"; bin="$2"; shift 2; mpirun=("$@")
work="$SP_WORK/run_safety_$case_"; rm -rf "$work"; mkdir -p "$work/p/keep" "$work/logs"
parent="$work/p"; out="$parent/out"
echo "a user's file beside output.dir" > "$parent/keep/file.txt"
quick=(--set calibration.nsamples=4 --set calibration.seqlen=64 --set eval.seqlen=64 --set output.dir="$out")
prune=("$bin" prune "$SP_REPO/configs/quickstart.yaml" "${quick[@]}")
fail() { echo "FAIL: $*"; exit 1; }
sums() { (cd "$work/p" && find . -type f -print0 | sort -z | xargs -0 -r sha256sum); }

# run NAME RC REGEX CMD...: CMD must exit RC, print REGEX and change nothing under $work/p.
run() {
  local name="$1" want="$2" regex="$3"; shift 3
  local before after rc t0
  before="$(sums)"; t0=$SECONDS
  echo "+ [$name] $*"
  "$@" >"$work/logs/$name.log" 2>&1; rc=$?
  tail -n 5 "$work/logs/$name.log"
  echo "[$name] exit $rc (expected $want) after $((SECONDS - t0)) s"
  [ "$rc" -eq "$want" ] || { cat "$work/logs/$name.log"; fail "$name: exit code $rc"; }
  grep -Eq -- "$regex" "$work/logs/$name.log" || fail "$name: output does not match /$regex/"
  after="$(sums)"
  [ "$before" = "$after" ] || { diff <(echo "$before") <(echo "$after"); fail "$name: files changed under $work/p"; }
}

# A lock file as the tool writes it (io/output_lock.h) for PID $2 of host $1.
write_lock() {
  local start=0
  [ -r "/proc/$2/stat" ] && start="$(sed 's/.*) //' "/proc/$2/stat" | cut -d' ' -f20)"
  printf 'struprune-dist output lock\nhost %s\npid %s\nboot %s\nstart %s\n' "$1" "$2" \
    "$(cat /proc/sys/kernel/random/boot_id 2>/dev/null)" "$start" > "$out/.lock"
}

earlier_outputs() { mkdir -p "$out/model"; echo '{"earlier": true}' > "$out/report.json"; echo w > "$out/model/x"; }

case "$case_" in
lock_live|lock_live_np2)
  earlier_outputs
  sleep 600 & owner=$!
  trap 'kill $owner 2>/dev/null' EXIT
  write_lock "$(hostname)" "$owner"
  cmd=("${prune[@]}"); [ "$case_" = lock_live_np2 ] && cmd=("${mpirun[@]}" -np 2 "${prune[@]}")
  msg="output.dir $out is in use by a running struprune-dist \\(host $(hostname), PID $owner"
  run live 75 "$msg" "${cmd[@]}"
  run live_resume 75 "$msg" "${cmd[@]}" --resume
  grep -q "validating config" "$work/logs/live.log" && fail "the refused run did work before the lock"
  ;;
lock_stale)
  earlier_outputs
  true & dead=$!; wait $dead
  write_lock "$(hostname)" "$dead"
  echo "+ a lock of PID $dead, which has exited"
  "${prune[@]}" >"$work/logs/stale.log" 2>&1 || { cat "$work/logs/stale.log"; fail "the run on a stale lock failed"; }
  grep -q "took over the lock of PID $dead on this host" "$work/logs/stale.log" || fail "no takeover message"
  [ -e "$out/.lock" ] && fail "the lock was not released"
  [ "$(cat "$parent/keep/file.txt")" = "a user's file beside output.dir" ] || fail "the folder beside output.dir changed"
  grep -q '"command": "prune"' "$out/report.json" || fail "no new report"
  ;;
lock_remote)
  earlier_outputs
  write_lock other-node 4242
  run remote 75 "locked by a run on host other-node \\(PID 4242\\).*remove the lock by hand: rm $out/.lock" "${prune[@]}"
  ;;
journal)
  # A finished prune whose report cannot be written (a folder holds its name) keeps its journal:
  # pass 1 and every layer, beside the earlier outputs (model/, masks.h5).
  mkdir -p "$out/report.json/blocker"
  "${prune[@]}" >"$work/logs/make.log" 2>&1 && fail "the run with a blocked report succeeded"
  ls "$out/.journal/pass1.json" "$out/.journal/layer_00004.json" >/dev/null || { cat "$work/logs/make.log"; fail "no complete journal"; }
  rm -r "$out/report.json"
  cp -a "$out/.journal" "$work/pristine"
  # The journal of another config (a foreign journal) the same way.
  other="$work/other"; mkdir -p "$other/report.json/blocker"
  "${prune[@]}" --set output.dir="$other" --set prune.sparsity=0.3 >"$work/logs/other.log" 2>&1
  ls "$other/.journal/layer_00004.json" >/dev/null || { cat "$work/logs/other.log"; fail "no journal of the other config"; }
  fresh() { rm -rf "$out/.journal"; cp -a "$work/pristine" "$out/.journal"; }
  edit() {  # edit FILE PYTHON: the statement gets j (JSON) or raw bytes b (safetensors), header h, data offset o
    python3 - "$out/.journal/$1" "$2" <<'EOF'
import json, struct, sys
path, stmt = sys.argv[1], sys.argv[2]
b = bytearray(open(path, "rb").read())
if path.endswith(".json"):
    j = json.loads(b); exec(stmt); open(path, "w").write(json.dumps(j))
else:
    n = struct.unpack("<Q", b[:8])[0]; h = json.loads(b[8:8 + n]); o = 8 + n; exec(stmt); open(path, "wb").write(b)
EOF
  }
  damaged="journal is damaged: $out/.journal"
  fresh; truncate -s 100 "$out/.journal/layer_00002.safetensors"
  run truncated 2 "$damaged/layer_00002.safetensors: " "${prune[@]}" --resume
  fresh; edit layer_00001.safetensors 'r = h["mlp_keep"]["data_offsets"]; i = b.index(1, o + r[0]); b[i] = 2'
  run mask_value 2 "$damaged/layer_00001.safetensors: mlp_keep\\[[0-9]+\\] = 2, not 0 or 1" "${prune[@]}" --resume
  fresh; edit layer_00003.safetensors 'h["o_weight"]["shape"] = [h["o_weight"]["shape"][1], h["o_weight"]["shape"][0]]; hb = json.dumps(h).encode(); hb += b" " * (-len(hb) % 8); b = bytearray(struct.pack("<Q", len(hb)) + hb + b[o:])'
  run wrong_shape 2 "$damaged/layer_00003.safetensors: tensor 'o_weight' is F32 \\[" "${prune[@]}" --resume
  fresh; edit layer_00000.json 'del j["removed_params"]'
  run missing_key 2 "$damaged/layer_00000.json: missing key 'removed_params'" "${prune[@]}" --resume
  fresh; edit pass1.json 'j["allocation"]["removed"] = j["allocation"]["removed"][:-1]'
  run pass1_blocks 2 "$damaged/pass1.json: 'removed' must list 10 blocks" "${prune[@]}" --resume
  # Foreign: another config's journal names the key; another run's layer (inputs copied) is damage.
  rm -rf "$out/.journal"; cp -a "$other/.journal" "$out/.journal"
  run foreign 2 "other inputs: .*prune\\.sparsity was 0\\.3, now 0\\.2" "${prune[@]}" --resume
  fresh; cp "$other/.journal/layer_00000."* "$out/.journal/"
  run foreign_layer 2 "$damaged/layer_00000.safetensors: .*the allocation removes" "${prune[@]}" --resume
  # Another build's journal: the version (with its commit) is named.
  fresh; edit inputs.json 'j["inputs"]["version"] = "0.0.1 (git 0123456789ab)"'
  run version 2 "version was 0\\.0\\.1 \\(git 0123456789ab\\), now [0-9]+\\.[0-9]+\\.[0-9]+ \\(git " "${prune[@]}" --resume
  fresh; edit inputs.json 'j["inputs"]["device"] = "cuda, NVIDIA H100 80GB HBM3"'
  run device 2 "device was cuda, NVIDIA H100 80GB HBM3, now cpu, [0-9]+ threads" "${prune[@]}" --resume
  # The pristine journal resumes: every layer replayed, the outputs final, the journal gone.
  fresh
  "${prune[@]}" --resume >"$work/logs/resume.log" 2>&1 || { cat "$work/logs/resume.log"; fail "the resume failed"; }
  grep -q "5 layer(s) of pass 2 done" "$work/logs/resume.log" || fail "the resume did not replay the journal"
  [ -e "$out/.journal" ] && fail "the journal was not removed after the resume"
  grep -q '"command": "prune"' "$out/report.json" || fail "no report after the resume"
  ;;
*) fail "unknown case $case_" ;;
esac
[ "$(cat "$parent/keep/file.txt")" = "a user's file beside output.dir" ] || fail "the folder beside output.dir changed"
echo PASS
