#!/usr/bin/env python3
"""A killed prune resumes and ends with the outputs of an uninterrupted run (issue 10).

Runs `struprune-dist prune` on a shared reference model once uninterrupted (`mpirun -np 1`). Then,
for each P given: starts the same prune under `mpirun -np P` in a new process group, waits until the
resume journal records at least one pruned layer, SIGKILLs the whole group (a preempted job),
checks that no final output exists, runs the same command with `--resume`, and compares:
every dataset and attribute of masks.h5 bit-identical to the uninterrupted run's (but `ranks`, and
the effective config's output.dir),
every file of the compact checkpoint byte-identical, the journal gone. Also checks that a resume
with another config is refused, naming the key. Exit 77 (skip) without the shared files or h5py.
usage: resume_after_kill.py --bin BIN --model DIR --calib TXT --work DIR [--np 1 2]
"""
import glob, os, signal, subprocess, sys, time
import distrun

def run(cmd, log):
    print("+", " ".join(cmd), flush=True)
    with open(log, "w") as f:
        return subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT).returncode

def files(folder):
    return {os.path.relpath(p, folder): open(p, "rb").read()
            for p in glob.glob(os.path.join(folder, "**"), recursive=True) if os.path.isfile(p)}

def alive(marker):
    """Whether a process (not a zombie) whose command line holds `marker` still runs."""
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            cmd = open(f"/proc/{pid}/cmdline", "rb").read()
            state = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if marker.encode() in cmd and state != "Z":
            return True
    return False


def main():
    ap = distrun.parser(__doc__)
    ap.add_argument("--np", type=int, nargs="+", default=[1, 2])
    a = ap.parse_args()
    skip = distrun.resolve(a, need_h5py=True)
    if skip:
        print(f"SKIP: {skip}"); return 77
    cfg = os.path.join(a.work, "run.yaml")
    distrun.write_config(cfg, a, f"{a.work}/out", "nsamples: 8, seqlen: 256, batch: 2")
    ref = os.path.join(a.work, "uninterrupted")
    if run(distrun.mpirun(a, 1, "prune", cfg, "--set", f"output.dir={ref}"), ref + ".log") != 0:
        print(open(ref + ".log").read()); print("FAIL: the uninterrupted run failed"); return 1
    ref_masks = distrun.masks_datasets(f"{ref}/masks.h5")
    ref_attrs = distrun.masks_attributes(f"{ref}/masks.h5")
    ref_files = files(f"{ref}/model")
    n_layers = len([k for k in ref_masks if k.endswith("mlp_keep")])
    ok = True
    for n in a.np:
        out = os.path.join(a.work, f"killed-np{n}")
        cmd = distrun.mpirun(a, n, "prune", cfg, "--set", f"output.dir={out}")
        log = open(out + ".log", "w")
        job = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        journal = os.path.join(out, ".journal")
        deadline = time.time() + 600
        while time.time() < deadline and job.poll() is None and not glob.glob(f"{journal}/layer_*.json"):
            time.sleep(0.05)
        if job.poll() is not None:
            print(open(out + ".log").read()); print(f"FAIL: np {n} ended before a layer was journalled"); return 1
        os.killpg(job.pid, signal.SIGKILL)
        job.wait()
        gone_by = time.time() + 30  # the ranks of the group: until then their lock on output.dir is live
        while time.time() < gone_by and alive(f"output.dir={out}"):
            time.sleep(0.1)
        done = len(glob.glob(f"{journal}/layer_*.json"))
        print(f"np {n}: killed with {done} of {n_layers} layers journalled", flush=True)
        if not 1 <= done < n_layers:
            print(f"FAIL: np {n}: the kill did not land mid pass 2 ({done} layers)"); ok = False; continue
        left = [f for f in ("report.json", "masks.h5", "model") if os.path.exists(os.path.join(out, f))]
        if left:
            print(f"FAIL: np {n}: final outputs after the kill: {left}"); ok = False
        # A different config is refused, naming the key, and leaves the journal as it was.
        bad = run(cmd + ["--resume", "--set", "prune.sparsity=0.4"], out + ".refused.log")
        text = open(out + ".refused.log").read()
        if bad != 2 or "prune.sparsity was 0.3, now 0.4" not in text:
            print(text[-1500:]); print(f"FAIL: np {n}: a resume with another sparsity was not refused (exit {bad})")
            ok = False
        if run(cmd + ["--resume"], out + ".resume.log") != 0:
            print(open(out + ".resume.log").read()[-3000:]); print(f"FAIL: np {n}: --resume failed"); ok = False
            continue
        text = open(out + ".resume.log").read()
        print("\n".join(l for l in text.splitlines() if "resume" in l or "journal" in l))
        masks = distrun.masks_datasets(f"{out}/masks.h5")
        diff = distrun.differing_datasets(ref_masks, masks)
        # The effective config names the run's own output.dir; the rest must match.
        same_dir = lambda v: v.replace(out, ref) if isinstance(v, str) else v
        attrs = {k: same_dir(v) for k, v in distrun.masks_attributes(f"{out}/masks.h5").items()}
        adiff = sorted(str(k) for k in set(ref_attrs) | set(attrs) if k != ("/", "ranks") and
                       (k not in ref_attrs or k not in attrs or repr(ref_attrs[k]) != repr(attrs[k])))
        got = files(f"{out}/model")
        fdiff = sorted(k for k in set(ref_files) | set(got) if ref_files.get(k) != got.get(k))
        print(f"np {n}: masks.h5 {len(masks)} datasets, {len(diff)} differ; attributes: {len(adiff)} differ; "
              f"checkpoint {len(got)} files, {len(fdiff)} differ")
        if diff or adiff or fdiff:
            print(f"FAIL: np {n}: datasets {diff[:5]} attributes {adiff[:5]} files {fdiff[:5]}"); ok = False
        if os.path.exists(journal):
            print(f"FAIL: np {n}: the journal is still there after the run finished"); ok = False
    print("OK: resumed runs equal the uninterrupted one" if ok else "FAILED")
    return 0 if ok else 1

if __name__ == "__main__":
    sys.exit(main())
