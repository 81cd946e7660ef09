#!/usr/bin/env python3
"""Pruning and evaluation give the same result for any number of MPI ranks (issue 9).

Runs `struprune-dist prune` on a shared reference model under `mpirun -np P` for each P and checks
that every dataset of masks.h5 (keep masks, scores, allocated sparsity) is bit-identical to the
first run's and that the perplexity after pruning agrees (relative difference < 1e-6; the scheme
makes it bitwise equal). With --eval, also `struprune-dist eval` of the pruned checkpoint.
Exit 77 (skip) without the shared files or h5py.
With --variant KEY=VALUE (repeatable), one more run per variant, with the last P and that --set,
must agree the same way (e.g. runtime.hidden_states=host: the same bits with the states in host memory).
With --gpu every run computes on the GPU (runtime.device=cuda): on a machine with one GPU all P ranks
share it, so the report must say collectives "mpi" and P ranks per GPU for P > 1 (exit 77 without a GPU).
usage: ranks_agree.py --bin BIN --model DIR --calib TXT --eval TXT --work DIR [--np 1 2 4] [--set k=v ...]
       [--variant k=v ...] [--gpu]
"""
import json, os, subprocess, sys
import distrun

def main():
    ap = distrun.parser(__doc__)
    ap.add_argument("--np", type=int, nargs="+", default=[1, 2, 4])
    ap.add_argument("--set", action="append", default=[])
    ap.add_argument("--variant", action="append", default=[], help="one more run (last P) with this --set")
    ap.add_argument("--check-eval", action="store_true", help="also eval the pruned checkpoint with each P")
    ap.add_argument("--gpu", action="store_true", help="compute on the GPU, every rank on one (skips without a GPU)")
    a = ap.parse_args()
    if not a.eval:
        ap.error("--eval is required")
    skip = distrun.resolve(a, need_h5py=True) or (distrun.no_gpu() if a.gpu else None)
    if skip:
        print(f"SKIP: {skip}"); return 77
    if a.gpu:
        distrun.one_gpu()
    cfg = os.path.join(a.work, "run.yaml")
    distrun.write_config(cfg, a, f"{a.work}/out", "nsamples: 4, seqlen: 96, batch: 1",
                         f"{{datasets: [{{name: heldout, path: {a.eval}, format: text}}], seqlen: 96, max_windows: 6, batch: 1}}")
    runs = {}
    # (label, ranks, extra --set): every P, then each variant with the last P.
    todo = [(n, n, []) for n in a.np] + [(v, a.np[-1], [v]) for v in a.variant]
    for label, n, extra in todo:
        out = os.path.join(a.work, f"np{n}" if not extra else f"np{n}-" + extra[0].replace("=", "-").replace("/", "_"))
        cmd = distrun.mpirun(a, n, "prune", cfg, "--set", f"output.dir={out}")
        for s in (["runtime.device=cuda"] if a.gpu else []) + a.set + extra:
            cmd += ["--set", s]
        print("+", " ".join(cmd), flush=True)
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 0:
            print(r.stdout, r.stderr); print(f"FAIL: np {label} exited {r.returncode}"); return 1
        rep = json.load(open(os.path.join(out, "report.json")))
        runs[label] = (out, rep)
        print(f"np {label}: ppl after {rep['perplexity_after']['heldout']['perplexity']!r}, "
              f"sparsity {rep['prune']['achieved_sparsity']:.6f}, ranks {rep['runtime']['ranks']}, "
              f"peak bytes per rank {rep['runtime']['peak_memory_bytes_per_rank']}")
        if rep["runtime"]["ranks"] != n:
            print(f"FAIL: report says {rep['runtime']['ranks']} ranks for np {n}"); return 1
        if a.gpu:
            rt = rep["runtime"]
            want = ("self" if n == 1 else "mpi", n)
            print(f"np {label}: device {rt['device']}, collectives {rt.get('collectives')}, "
                  f"ranks per GPU {rt.get('ranks_per_gpu')}")
            if not rt["device"].startswith("cuda") or (rt.get("collectives"), rt.get("ranks_per_gpu")) != want:
                print(f"FAIL: np {n} on one GPU: expected device cuda, collectives {want[0]} and {n} rank(s) per GPU")
                return 1

    base_n = a.np[0]
    base = distrun.masks_datasets(os.path.join(runs[base_n][0], "masks.h5"))
    base_ppl = runs[base_n][1]["perplexity_after"]["heldout"]["perplexity"]
    ok = True
    for n in a.np[1:] + a.variant:
        other = distrun.masks_datasets(os.path.join(runs[n][0], "masks.h5"))
        if sorted(other) != sorted(base):
            print(f"FAIL: np {n} masks.h5 has datasets {sorted(other)} vs {sorted(base)}"); ok = False; continue
        diff = distrun.differing_datasets(base, other)
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
            cmd = distrun.mpirun(a, n, "eval", cfg, "--set", f"model.path={runs[base_n][0]}/model",
                                 "--set", f"output.dir={out}")
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
    print("OK: the same masks and perplexity for np " + ", ".join(map(str, a.np + a.variant)) if ok else "FAILED")
    return 0 if ok else 1

if __name__ == "__main__":
    sys.exit(main())
