#!/usr/bin/env python3
"""Pruning quality in one tool and one run: every method of struprune-dist at every sparsity.

Cells: held-out perplexity (achieved sparsity, wall seconds of the whole command: load, calibration,
both passes, evaluation after, outputs). For each model (a Hugging Face folder) it prunes with each method (structprune with admm and with
softmax allocation, and the baselines magnitude-sp, wanda-sp, flap, wanda-sp+ls, obs-sp+ls) at each
sparsity, on the same calibration windows, and reads the held-out perplexity, the achieved sparsity
and the time from each run's report.json. Prints a Markdown table and writes every figure to JSON.

  bench/quality.py --bin build/ci/src/cli/struprune-dist \\
      --model ../shared/models/ref-llama --model ../shared/models/ref-opt \\
      --calib ../shared/data/refcorpus/heldout-calib.txt --eval ../shared/data/refcorpus/heldout-eval.txt \\
      --out out/quality [--sparsity 0.2 0.3 0.5 0.6 0.7] [--nsamples 64] [--seqlen 1024] [--device cuda]

--variant NAME:KEY=VALUE,KEY=VALUE adds a row (an ablation of structprune, say); --methods picks rows;
--require-best METHOD makes it a regression check (exit 1 unless METHOD wins every cell); --equal-size
compares rows at the same number of removed parameters (rows whose budget counts other parameters, e.g.
`prune.structures.attention: none` without the attention, get the target that removes as many as the first
row; its achieved sparsity is then of its own budget). Only the standard library: it runs the binary and reads JSON.
"""
import argparse
import json
import os
import re
import subprocess
import sys
import time

METHODS = {
    "structprune (admm)": {"prune.method": "structprune", "prune.allocation": "admm"},
    "structprune (softmax)": {"prune.method": "structprune", "prune.allocation": "softmax"},
    "magnitude-sp": {"prune.method": "magnitude-sp"},
    "wanda-sp": {"prune.method": "wanda-sp"},
    "flap": {"prune.method": "flap"},
    "wanda-sp+ls": {"prune.method": "wanda-sp+ls"},
    "obs-sp+ls": {"prune.method": "obs-sp+ls"},
}


def config_yaml(args, model):
    opt = os.path.basename(os.path.normpath(model)).startswith("ref-opt")
    return "\n".join([
        f"model: {{path: {os.path.abspath(model)}}}",
        f"calibration: {{path: {os.path.abspath(args.calib)}, nsamples: {args.nsamples}, "
        f"seqlen: {args.seqlen}, seed: {args.seed}}}",
        f"prune: {{structures: {{attention: {'heads' if opt else 'kv_groups'}, mlp: true}}}}",
        f"runtime: {{device: {args.device}, precision: {args.precision}}}",
        "output: {checkpoint: none, overwrite: true}",
        f"eval: {{datasets: [{{name: heldout, path: {os.path.abspath(args.eval)}}}], "
        f"seqlen: {args.eval_seqlen}, max_windows: {args.max_windows}}}",
        "logging: {level: warn}",
        "",
    ])


def dense_ppl(args, model):
    """The unpruned model's held-out perplexity (struprune-dist eval), outside every method's time."""
    out = os.path.join(args.out, "runs", os.path.basename(os.path.normpath(model)) + "-dense")
    os.makedirs(out, exist_ok=True)
    cfg = os.path.join(out, "config.yaml")
    with open(cfg, "w") as f:
        f.write(config_yaml(args, model))
    p = subprocess.run([args.bin, "eval", cfg, "--set", f"output.dir={out}"], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True)
    if p.returncode != 0:
        sys.stderr.write(p.stdout[-4000:])
        return None
    with open(os.path.join(out, "report.json")) as f:
        return json.load(f)["eval"]["heldout"]["perplexity"]


def prunable_params(args, model, sets):
    """The prunable parameter count of a row's configuration (struprune-dist --dry-run), no computation."""
    out = os.path.join(args.out, "runs", "dry-run")
    os.makedirs(out, exist_ok=True)
    cfg = os.path.join(out, "config.yaml")
    with open(cfg, "w") as f:
        f.write(config_yaml(args, model))
    cmd = [args.bin, cfg, "--dry-run", "--set", f"output.dir={out}"]
    for k, v in sets.items():
        cmd += ["--set", f"{k}={v}"]
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    m = re.search(r"target: remove \d+ of (\d+) prunable parameters", p.stdout)
    if p.returncode != 0 or m is None:
        sys.stderr.write(p.stdout[-4000:])
        raise SystemExit(f"--equal-size: no prunable count from the dry run of {model} with {sets}")
    return int(m.group(1))


def run(args, model, name, sets, sparsity, eval_before=False):
    tag = f"{os.path.basename(os.path.normpath(model))}-{name}-{sparsity}".replace(" ", "_").replace("(", "").replace(")", "")
    out = os.path.join(args.out, "runs", tag)
    os.makedirs(out, exist_ok=True)
    cfg = os.path.join(out, "config.yaml")
    with open(cfg, "w") as f:
        f.write(config_yaml(args, model))
    cmd = [args.bin, cfg, "--set", f"output.dir={out}", "--set", f"prune.sparsity={sparsity}",
           "--set", f"eval.before={'true' if eval_before else 'false'}"]
    for k, v in sets.items():
        cmd += ["--set", f"{k}={v}"]
    t0 = time.time()
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    wall = time.time() - t0
    if p.returncode != 0:
        sys.stderr.write(p.stdout[-4000:])
        return {"method": name, "sparsity": sparsity, "error": p.returncode, "wall_seconds": wall}
    with open(os.path.join(out, "report.json")) as f:
        rep = json.load(f)
    row = {"method": name, "sparsity": sparsity, "overrides": sets, "wall_seconds": wall,
           "achieved": rep["prune"]["achieved_sparsity"], "ppl": rep["perplexity_after"]["heldout"]["perplexity"],
           "removed_params": rep["prune"]["removed_params"], "prunable_params": rep["prune"]["prunable_params"],
           "seconds": rep["seconds"], "layers": rep["prune"]["layers"]}
    if eval_before:
        row["dense_ppl"] = rep["perplexity_before"]["heldout"]["perplexity"]
    print(f"  {name:<28} s={sparsity:<4} achieved {row['achieved']:.4f}  ppl {row['ppl']:9.3f}  "
          f"{wall:7.1f} s (pipeline {row['seconds']['total']:.1f} s)", flush=True)
    return row


def table(results, sparsities):
    lines = []
    models = list(results)
    head = "| method | " + " | ".join(f"{os.path.basename(m)} {int(round(s * 100))}%" for m in models for s in sparsities)
    lines.append(head + " |")
    lines.append("|---" * (1 + len(models) * len(sparsities)) + "|")
    dense = "| dense | " + " | ".join(
        (f"{results[m]['dense_ppl']:.2f}" if i == 0 else "") for m in models for i, _ in enumerate(sparsities))
    lines.append(dense + " |")
    names = list(dict.fromkeys(r["method"] for m in models for r in results[m]["rows"]))
    for n in names:
        cells = []
        for m in models:
            for s in sparsities:
                r = next((r for r in results[m]["rows"] if r["method"] == n and r["sparsity"] == s), None)
                if r is None or "ppl" not in r:
                    cells.append("-")
                else:
                    cells.append(f"{r['ppl']:.2f} ({r['achieved']:.3f}, {r['wall_seconds']:.1f} s)")
        lines.append(f"| {n} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", required=True)
    ap.add_argument("--model", action="append", required=True)
    ap.add_argument("--calib", required=True)
    ap.add_argument("--eval", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--sparsity", type=float, nargs="+", default=[0.2, 0.3, 0.5, 0.6, 0.7])
    ap.add_argument("--nsamples", type=int, default=64)
    ap.add_argument("--seqlen", type=int, default=1024)
    ap.add_argument("--eval-seqlen", type=int, default=1024)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--max-windows", type=int, default=0, help="evaluate at most this many windows (0: all)")
    ap.add_argument("--require-best", metavar="METHOD",
                    help="exit 1 unless METHOD has the lowest perplexity of the rows run, at every sparsity and model")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--precision", default="fp32")
    ap.add_argument("--methods", nargs="+", default=list(METHODS))
    ap.add_argument("--variant", action="append", default=[], help="NAME:KEY=VALUE,KEY=VALUE (a structprune ablation)")
    ap.add_argument("--equal-size", action="store_true",
                    help="every row removes as many parameters as the first row at each sparsity: a row whose budget "
                         "counts other parameters (attention: none leaves the attention out) takes the target that removes "
                         "that many (its cells are still listed under the nominal sparsity)")
    args = ap.parse_args()

    rows_to_run = [(n, METHODS[n]) for n in args.methods]
    for v in args.variant:
        name, _, kv = v.partition(":")
        sets = dict(item.split("=", 1) for item in kv.split(",") if item)
        rows_to_run.append((name, {"prune.method": "structprune", **sets}))

    os.makedirs(args.out, exist_ok=True)
    results = {}
    for model in args.model:
        print(f"{model}:", flush=True)
        res = {"rows": [], "dense_ppl": dense_ppl(args, model)}
        print(f"  dense ppl {res['dense_ppl']}", flush=True)
        base = prunable_params(args, model, rows_to_run[0][1]) if args.equal_size else None
        for name, sets in rows_to_run:
            own = prunable_params(args, model, sets) if args.equal_size else None
            for s in args.sparsity:
                target = s if not args.equal_size else round(s * base / own, 6)
                row = run(args, model, name, sets, target)
                row["sparsity"] = s  # the nominal column; "target" is what the row was given
                row["target"] = target
                res["rows"].append(row)
                with open(os.path.join(args.out, "quality.json"), "w") as f:
                    json.dump({"args": vars(args), "results": {**results, model: res}}, f, indent=1)
        results[model] = res
    md = table(results, args.sparsity)
    print(md)
    with open(os.path.join(args.out, "quality.md"), "w") as f:
        f.write(md + "\n")
    if args.require_best:
        failed = []
        for model, res in results.items():
            for s in args.sparsity:
                rows = [r for r in res["rows"] if r["sparsity"] == s and "ppl" in r]
                best = min(rows, key=lambda r: r["ppl"]) if rows else None
                if best is None or best["method"] != args.require_best:
                    failed.append(f"{os.path.basename(model)} {s}: best is {best and best['method']}")
        if failed:
            print(f"FAIL: {args.require_best} is not the best: " + "; ".join(failed))
            sys.exit(1)
        print(f"OK: {args.require_best} has the lowest perplexity in every cell")


if __name__ == "__main__":
    main()
