#!/usr/bin/env python3
"""launch/slurm/summarise on a hand-made sweep folder (no Slurm needed): one ok task with two
evaluation sets, one that exited 3, one that ended 0 without a report, one never recorded.

usage: test_summarise.py REPO WORKDIR
"""
import csv
import json
import shutil
import subprocess
import sys
from pathlib import Path

repo, work = Path(sys.argv[1]), Path(sys.argv[2]) / "summarise"
shutil.rmtree(work, ignore_errors=True)
(work / "task-000").mkdir(parents=True)
report = {
    "prune": {"method": "structprune", "target_sparsity": 0.3, "achieved_sparsity": 0.2999, "temperature": 0.5},
    "perplexity_before": {"a": {"perplexity": 10.0}, "b": {"perplexity": 20.0}},
    "perplexity_after": {"a": {"perplexity": 12.5}, "b": {"perplexity": 25.0}},
    "seconds": {"total": 7.25},
}
(work / "task-000" / "report.json").write_text(json.dumps(report))
for task, code in ((0, 0), (1, 3), (2, 0)):
    (work / f"task-{task:03d}.status.json").write_text(
        json.dumps({"task": task, "exit_code": code, "overrides": f"--set x={task}"}))
p = subprocess.run([sys.executable, str(repo / "launch/slurm/summarise"), str(work), "--tasks", "4"],
                   capture_output=True, text=True)
print(p.stdout, p.stderr)
assert p.returncode == 1, p.returncode
for line in ("task 1 failed (exit 3): --set x=1", "task 2 failed (exit 0 but no report.json): --set x=2", "task 3 missing: "):
    assert line in p.stderr, line
rows = list(csv.DictReader(open(work / "summary.csv")))
assert [(r["task"], r["status"]) for r in rows] == [("0", "ok"), ("1", "failed"), ("2", "failed"), ("3", "missing")]
r = rows[0]
assert (r["method"], r["target_sparsity"], r["achieved_sparsity"], r["temperature"]) == ("structprune", "0.3", "0.2999", "0.5")
assert (r["ppl_before_a"], r["ppl_after_a"], r["ppl_before_b"], r["ppl_after_b"]) == ("10.0", "12.5", "20.0", "25.0")
assert r["seconds"] == "7.25" and r["overrides"] == "--set x=0"
print("PASS")
