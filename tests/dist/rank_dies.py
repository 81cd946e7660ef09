#!/usr/bin/env python3
"""A rank that dies ends the whole job, soon, naming the rank (issue 9).

Starts `mpirun -np 2 struprune-dist prune` on a shared reference model, waits until the pruning pass
is under way (the progress line of pass 1), SIGKILLs the process of rank 1 and checks that mpirun
exits non-zero within 60 s with a message naming rank 1, and that no report.json / masks.h5 was
left under its final name. Exit 77 (skip) without the shared files.
usage: rank_dies.py --bin BIN --model DIR --calib TXT --work DIR
"""
import os, signal, subprocess, sys, time
import distrun

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
    a = distrun.parser(__doc__).parse_args()
    skip = distrun.resolve(a)
    if skip:
        print(f"SKIP: {skip}"); return 77
    out = os.path.join(a.work, "out")
    cfg = os.path.join(a.work, "run.yaml")
    distrun.write_config(cfg, a, out, "nsamples: 32, seqlen: 256, batch: 2", logging="{all_ranks: true}")
    log = open(os.path.join(a.work, "log.txt"), "w+")
    job = subprocess.Popen(distrun.mpirun(a, 2, "prune", cfg),
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
