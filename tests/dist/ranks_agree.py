#!/usr/bin/env python3
"""Pruning and evaluation give the same result for any number of MPI ranks (issue 9).

Runs `struprune-dist prune` on a shared reference model under `mpirun -np P` for each P and checks
that every dataset of masks.h5 (keep masks, scores, allocated sparsity) is bit-identical to the
first run's and that the perplexity after pruning agrees (relative difference < 1e-6; the scheme
makes it bitwise equal). With --eval, also `struprune-dist eval` of the pruned checkpoint.
Exit 77 (skip) without the shared files or h5py.
usage: ranks_agree.py --bin BIN --model DIR --calib TXT --eval TXT --work DIR [--np 1 2 4] [--set k=v ...]
"""
import argparse, json, os, shutil, subprocess, sys

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--mpirun", default="mpirun")
    ap.add_argument("--mpirun-flags", default="--allow-run-as-root --oversubscribe")
    ap.add_argument("--model", required=True)
    ap.add_argument("--calib", required=True)
    ap.add_argument("--eval", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--np", type=int, nargs="+", default=[1, 2, 4])
    ap.add_argument("--set", action="append", default=[])
    ap.add_argument("--check-eval", action="store_true", help="also eval the pruned checkpoint with each P")
    ap.add_argument("--shared", default="", help="replaces @SHARED@ in paths (default: $STRUPRUNE_SHARED_DIR)")
    a = ap.parse_args()
    shared = os.environ.get("STRUPRUNE_SHARED_DIR") or a.shared
    for k in ("model", "calib", "eval"):
        if getattr(a, k, None):
            setattr(a, k, getattr(a, k).replace("@SHARED@", shared))
    for p in (a.model, a.calib, a.eval):
        if not os.path.exists(p):
            print(f"SKIP: {p} not found"); return 77
    try:
        import h5py, numpy as np
    except ImportError:
        print("SKIP: h5py/numpy not installed"); return 77
    shutil.rmtree(a.work, ignore_errors=True)
    os.makedirs(a.work)
    cfg = os.path.join(a.work, "run.yaml")
    with open(cfg, "w") as f:
        f.write(f"""model: {{path: {a.model}}}
calibration: {{path: {a.calib}, format: text, nsamples: 4, seqlen: 96, seed: 0, batch: 1}}
prune: {{method: structprune, sparsity: 0.3}}
runtime: {{device: cpu, precision: fp32, threads: 1}}
output: {{dir: {a.work}/out, checkpoint: compact}}
eval: {{datasets: [{{name: heldout, path: {a.eval}, format: text}}], seqlen: 96, max_windows: 6, batch: 1}}
""")
    runs = {}
    for n in a.np:
        out = os.path.join(a.work, f"np{n}")
        cmd = [a.mpirun, *a.mpirun_flags.split(), "-np", str(n), a.bin, "prune", cfg, "--set", f"output.dir={out}"]
        for s in a.set:
            cmd += ["--set", s]
        print("+", " ".join(cmd), flush=True)
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 0:
            print(r.stdout, r.stderr); print(f"FAIL: np {n} exited {r.returncode}"); return 1
        rep = json.load(open(os.path.join(out, "report.json")))
        runs[n] = (out, rep)
        print(f"np {n}: ppl after {rep['perplexity_after']['heldout']['perplexity']!r}, "
              f"sparsity {rep['prune']['achieved_sparsity']:.6f}, ranks {rep['runtime']['ranks']}, "
              f"peak bytes per rank {rep['runtime']['peak_memory_bytes_per_rank']}")
        if rep["runtime"]["ranks"] != n:
            print(f"FAIL: report says {rep['runtime']['ranks']} ranks for np {n}"); return 1

    def datasets(path):
        d = {}
        with h5py.File(path, "r") as f:
            f.visititems(lambda k, v: d.__setitem__(k, v[()]) if isinstance(v, h5py.Dataset) else None)
        return d

    base_n = a.np[0]
    base = datasets(os.path.join(runs[base_n][0], "masks.h5"))
    base_ppl = runs[base_n][1]["perplexity_after"]["heldout"]["perplexity"]
    ok = True
    for n in a.np[1:]:
        other = datasets(os.path.join(runs[n][0], "masks.h5"))
        if sorted(other) != sorted(base):
            print(f"FAIL: np {n} masks.h5 has datasets {sorted(other)} vs {sorted(base)}"); ok = False; continue
        diff = [k for k in base if base[k].shape != other[k].shape or base[k].tobytes() != other[k].tobytes()]
        if diff:
            print(f"FAIL: np {n}: {len(diff)} dataset(s) of masks.h5 differ from np {base_n}: {diff[:6]}"); ok = False
        else:
            print(f"np {n}: all {len(base)} datasets of masks.h5 bit-identical to np {base_n}")
        ppl = runs[n][1]["perplexity_after"]["heldout"]["perplexity"]
        rel = abs(ppl - base_ppl) / base_ppl
        print(f"np {n}: ppl after {ppl!r} vs {base_ppl!r}: relative difference {rel:.3g}")
        if rel >= 1e-6:
            print("FAIL: perplexity differs"); ok = False
    if a.check_eval:
        ev = []
        for n in a.np[:2]:
            out = os.path.join(a.work, f"eval-np{n}")
            cmd = [a.mpirun, *a.mpirun_flags.split(), "-np", str(n), a.bin, "eval", cfg,
                   "--set", f"model.path={runs[base_n][0]}/model", "--set", f"output.dir={out}"]
            r = subprocess.run(cmd, capture_output=True, text=True)
            if r.returncode != 0:
                print(r.stdout, r.stderr); print(f"FAIL: eval np {n} exited {r.returncode}"); return 1
            rep = json.load(open(os.path.join(out, "report.json")))
            ev.append(rep["datasets"]["heldout"]["perplexity"] if "datasets" in rep else rep["eval"]["heldout"]["perplexity"])
            print(f"eval np {n} of the pruned checkpoint: ppl {ev[-1]!r}")
        rel0 = abs(ev[0] - base_ppl) / base_ppl
        print(f"eval vs the prune report: relative difference {rel0:.3g}; eval np {a.np[1]} vs np {a.np[0]}: "
              f"{abs(ev[1] - ev[0]) / ev[0]:.3g}")
        if ev[0] != ev[1] or rel0 >= 1e-4:
            print("FAIL: eval perplexities disagree"); ok = False
    print("OK: the same masks and perplexity for np " + ", ".join(map(str, a.np)) if ok else "FAILED")
    return 0 if ok else 1

if __name__ == "__main__":
    sys.exit(main())
