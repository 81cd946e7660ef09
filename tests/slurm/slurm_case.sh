#!/usr/bin/env bash
# Tests against a real single-node Slurm (launch/slurm/local_cluster.sh; launch/test.sh starts it).
# usage: slurm_case.sh CASE   with CASE one of: srun_prune_np2, sweep_summary, sweep_failed_task, gpu_binding
# Skips (exit 77) when the cluster does not answer, unless STRUPRUNE_REQUIRE_SLURM=1 (CI), where
# that is a failure. Environment: SP_REPO, SP_WORK, SP_BIN, SP_MPIRUN, STRUPRUNE_SHARED_DIR[_DEFAULT].
set -euo pipefail
fail() { echo "FAIL: $*"; exit 1; }
if ! "$SP_REPO/launch/slurm/local_cluster.sh" status; then
  [ "${STRUPRUNE_REQUIRE_SLURM:-0}" = 1 ] && fail "STRUPRUNE_REQUIRE_SLURM=1 but the local Slurm does not answer"
  echo "SKIP: no local Slurm (start one as root: launch/slurm/local_cluster.sh start)"; exit 77
fi
work="$SP_WORK/slurm-$1"
rm -rf "$work" && mkdir -p "$work"
cd "$SP_REPO"   # the templates run from the repository root (relative configs/ and out/ paths)
# Steps and jobs must not wait forever behind a stuck queue: the whole test has ctest's timeout.
srun_() { srun --quiet --time=10 "$@"; }

# srun -n 2 --mpi=pmix prunes ref-llama: masks.h5 bit-identical to mpirun -np 2 on the same config.
# (normalize residual: the kl probes would take minutes on a loaded 2-core machine; the launch is
# what is under test here.)
srun_prune_np2() {
  local shared="${STRUPRUNE_SHARED_DIR:-$STRUPRUNE_SHARED_DIR_DEFAULT}"
  [ -d "$shared/models/ref-llama" ] || { echo "SKIP: $shared/models/ref-llama not found"; exit 77; }
  local sets=(--set "model.path=$shared/models/ref-llama" --set "calibration.path=$shared/data/refcorpus/heldout-calib.txt"
              --set calibration.nsamples=4 --set calibration.seqlen=128 --set runtime.device=cpu
              --set runtime.precision=fp32 --set runtime.threads=1 --set "eval.datasets=[]"
              --set prune.normalize=residual
              --set output.checkpoint=none --set output.overwrite=true)
  # Both runs write to the same folder (moved aside in between): masks.h5 records the effective
  # config, output.dir included, so that the files can be equal attribute for attribute.
  sets+=(--set "output.dir=$work/run")
  srun_ -n 2 --mpi=pmix --kill-on-bad-exit=1 "$SP_BIN" configs/ref-llama.yaml "${sets[@]}" | tee "$work/srun.log"
  mv "$work/run" "$work/srun"
  $SP_MPIRUN -np 2 "$SP_BIN" configs/ref-llama.yaml "${sets[@]}" >"$work/mpirun.log" 2>&1 ||
    { cat "$work/mpirun.log"; fail "mpirun -np 2"; }
  mv "$work/run" "$work/mpirun"
  # h5diff (HDF5's own tool, not our reader): every dataset and attribute equal, exit 0.
  h5diff "$work/srun/masks.h5" "$work/mpirun/masks.h5" || { h5diff -r "$work/srun/masks.h5" "$work/mpirun/masks.h5" |
    grep -v "^0 differences" | head -40; fail "masks.h5 differ between srun and mpirun"; }
  cmp "$work/srun/masks.h5" "$work/mpirun/masks.h5" && echo "masks.h5: byte-identical" ||
    echo "masks.h5: equal datasets and attributes (h5diff), not byte-identical"
  python3 - "$work/srun/report.json" <<'EOF' || fail "report.json of the srun run"
import json, sys
r = json.load(open(sys.argv[1]))
assert r["runtime"]["ranks"] == 2, r["runtime"]  # srun started one job of 2 ranks
assert r["prune"]["removed_params"] > 0, r["prune"]
print("srun report: ranks", r["runtime"]["ranks"], "removed", r["prune"]["removed_params"])
EOF
}

# Small on purpose (seconds per task on a loaded 2-core machine): appended to every sweep line.
small="--set calibration.nsamples=4 --set calibration.seqlen=128 --set eval.seqlen=128 --set eval.max_windows=8 --set runtime.threads=1"

# Four lines (sparsity x method) on the embedded model, through launch/slurm/sweep.sh: one folder per
# task, then the summary job (afterany) writes one CSV row per task.
sweep_summary() {
  printf "%s $small\n" "--set prune.sparsity=0.2 --set prune.method=structprune" \
    "--set prune.sparsity=0.2 --set prune.method=wanda-sp" \
    "--set prune.sparsity=0.4 --set prune.method=structprune" \
    "--set prune.sparsity=0.4 --set prune.method=wanda-sp" >"$work/sweep.txt"
  STRUPRUNE_BIN="$SP_BIN" STRUPRUNE_SWEEP_OUT="$work/out" launch/slurm/sweep.sh --wait configs/quickstart.yaml \
    "$work/sweep.txt" -- --ntasks-per-node=1 --cpus-per-task=1 --gpus-per-node=0 --time=10 \
    --output="$work/%x-%A_%a.out" | tee "$work/sweep.log" || { tail -n 30 "$work"/*.out; fail "sweep.sh --wait"; }
  local i
  for i in 0 1 2 3; do
    [ -f "$work/out/task-00$i/report.json" ] && [ -f "$work/out/task-00$i/masks.h5" ] || fail "task $i: no outputs"
  done
  python3 - "$work/out/summary.csv" <<'EOF' || fail "summary.csv"
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
assert [int(r["task"]) for r in rows] == [0, 1, 2, 3], rows
assert all(r["status"] == "ok" for r in rows), rows
assert [(r["method"], float(r["target_sparsity"])) for r in rows] == [
    ("structprune", 0.2), ("wanda-sp", 0.2), ("structprune", 0.4), ("wanda-sp", 0.4)], rows
for r in rows:
    assert abs(float(r["achieved_sparsity"]) - float(r["target_sparsity"])) < 0.05, r
    assert float(r["ppl_after_heldout"]) > float(r["ppl_before_heldout"]) > 1, r
print(f"summary.csv: {len(rows)} rows, all ok")
EOF
  grep -q "summarise: 4 tasks" "$work/out"/summary-*.out || fail "no log of the summary job in $work/out"
  if python3 -c "import matplotlib" 2>/dev/null; then
    [ -s "$work/out/summary.png" ] || fail "matplotlib is installed but there is no summary.png"
  fi
}

# Task 1 of three has a bad value: sbatch --wait fails, the other tasks complete, and summarise names
# task 1 (its array index) with the exit code of the binary (2: bad input).
sweep_failed_task() {
  printf "%s $small\n" "--set prune.sparsity=0.2" "--set prune.sparsity=half" "--set prune.sparsity=0.3" >"$work/sweep.txt"
  local rc=0
  STRUPRUNE_BIN="$SP_BIN" STRUPRUNE_SWEEP_OUT="$work/out" sbatch --array=0-2 --wait --ntasks-per-node=1 \
    --cpus-per-task=1 --gpus-per-node=0 --time=10 --output="$work/%x-%A_%a.out" \
    launch/slurm/sweep.sbatch configs/quickstart.yaml "$work/sweep.txt" || rc=$?
  [ $rc -ne 0 ] || fail "sbatch --wait succeeded although task 1 failed"
  [ -f "$work/out/task-000/report.json" ] && [ -f "$work/out/task-002/report.json" ] || fail "tasks 0 and 2 must complete"
  grep -l "array task 1 failed (exit 2)" "$work"/*_1.out || fail "task 1's log does not report its failure"
  rc=0
  python3 launch/slurm/summarise "$work/out" --tasks 3 >"$work/summarise.log" 2>&1 || rc=$?
  cat "$work/summarise.log"
  [ $rc -eq 1 ] || fail "summarise exit $rc, expected 1"
  grep -q "task 1 failed (exit 2): --set prune.sparsity=half --set" "$work/summarise.log" || fail "summarise does not name task 1"
  [ "$(grep -c . "$work/out/summary.csv")" -eq 4 ] || fail "summary.csv: expected a header and 3 rows"
}

# One GPU per task: --gpus-per-task=1 gives each task its own CUDA_VISIBLE_DEVICES (the stand-in GPUs
# of the local cluster), so each rank sees one device and picks device 0 of what it sees.
gpu_binding() {
  srun_ -n 2 --gpus-per-task=1 bash -c 'echo "task $SLURM_PROCID local $SLURM_LOCALID gpus ${CUDA_VISIBLE_DEVICES-none}"' |
    sort | tee "$work/bind.log"
  [ "$(cat "$work/bind.log")" = "$(printf 'task 0 local 0 gpus 0\ntask 1 local 1 gpus 1')" ] || fail "GPU binding per task"
}

"$1"
echo PASS
