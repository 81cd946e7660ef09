#!/usr/bin/env python3
"""A rank that dies ends the whole job, soon, naming the rank (issue 9).

Starts `mpirun -np 2 struprune-dist prune` on a shared reference model, waits until the pruning pass
is under way (the progress line of pass 1), SIGKILLs the process of rank 1 and checks that mpirun
exits non-zero within 60 s with a message naming rank 1, and that no report.json / masks.h5 was
left under its final name. Exit 77 (skip) without the shared files.
usage: rank_dies.py --bin BIN --model DIR --calib TXT --work DIR
"""
import argparse, os, shutil, signal, subprocess, sys, time

def rank_pid(rank, marker):
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            env = open(f"/proc/{pid}/environ", "rb").read().split(b"\0")
            cmd = open(f"/proc/{pid}/cmdline", "rb").read()
        except OSError:
            continue
        if f"OMPI_COMM_WORLD_RANK={rank}".encode() in env and marker.encode() in cmd and b"struprune-dist" in cmd:
            return int(pid)
    return None

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--mpirun", default="mpirun")
    ap.add_argument("--mpirun-flags", default="--allow-run-as-root --oversubscribe")
    ap.add_argument("--model", required=True)
    ap.add_argument("--calib", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--shared", default="", help="replaces @SHARED@ in paths (default: $STRUPRUNE_SHARED_DIR)")
    a = ap.parse_args()
    shared = os.environ.get("STRUPRUNE_SHARED_DIR") or a.shared
    for k in ("model", "calib", "eval"):
        if getattr(a, k, None):
            setattr(a, k, getattr(a, k).replace("@SHARED@", shared))
    for p in (a.model, a.calib):
        if not os.path.exists(p):
            print(f"SKIP: {p} not found"); return 77
    shutil.rmtree(a.work, ignore_errors=True)
    os.makedirs(a.work)
    out = os.path.join(a.work, "out")
    cfg = os.path.join(a.work, "run.yaml")
    with open(cfg, "w") as f:
        f.write(f"""model: {{path: {a.model}}}
calibration: {{path: {a.calib}, format: text, nsamples: 32, seqlen: 256, seed: 0, batch: 2}}
prune: {{method: structprune, sparsity: 0.3}}
runtime: {{device: cpu, precision: fp32, threads: 1}}
output: {{dir: {out}, checkpoint: compact}}
eval: {{datasets: [], before: false}}
logging: {{all_ranks: true}}
""")
    log = open(os.path.join(a.work, "log.txt"), "w+")
    job = subprocess.Popen([a.mpirun, *a.mpirun_flags.split(), "-np", "2", a.bin, "prune", cfg],
                           stdout=log, stderr=subprocess.STDOUT)
    deadline = time.time() + 120
    victim = None
    while time.time() < deadline and job.poll() is None:
        log.flush()
        text = open(log.name).read()
        if "pass 1" in text:
            victim = rank_pid(1, cfg)
            if victim:
                break
        time.sleep(0.2)
    if victim is None:
        job.kill()
        print(open(log.name).read()); print("FAIL: the prune pass never started (or rank 1 not found)"); return 1
    t0 = time.time()
    os.kill(victim, signal.SIGKILL)
    print(f"killed rank 1 (pid {victim}) during pass 1", flush=True)
    try:
        rc = job.wait(timeout=60)
    except subprocess.TimeoutExpired:
        job.kill()
        print("FAIL: the job still runs 60 s after rank 1 died"); return 1
    dt = time.time() - t0
    text = open(log.name).read()
    print(text[-2000:])
    print(f"mpirun exited {rc} after {dt:.1f} s")
    ok = rc != 0 and "rank 1" in text
    left = [f for f in ("report.json", "masks.h5") if os.path.exists(os.path.join(out, f))]
    if left:
        print(f"FAIL: final outputs left behind: {left}"); ok = False
    if rc == 0:
        print("FAIL: exit code 0")
    if "rank 1" not in text:
        print("FAIL: the message does not name rank 1")
    print("OK: the job ended in %.1f s naming rank 1" % dt if ok else "FAILED")
    return 0 if ok else 1

if __name__ == "__main__":
    sys.exit(main())
