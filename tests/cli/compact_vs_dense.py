#!/usr/bin/env python3
"""A compact checkpoint computes what the masked dense form of the same prune computes.

Prunes the embedded stories260K (configs/quickstart.yaml) twice per case, once with
output.checkpoint: compact and once with output.checkpoint: dense (the same run otherwise, so the
same masks and refit weights), then runs `eval` and `generate` on both checkpoints. Passes when the
perplexities agree to a relative 1e-5 (fp32) and the greedy ids are identical. Cases:
  mixed     structprune (admm) at 30%: layers keep different head / KV-head / neuron counts
            (config.json must carry struprune_layers with at least two distinct shapes);
  round_to  the same with prune.round_to = 8: every kept MLP width a multiple of 8;
  uniform   prune.uniform_shape: every layer the same shape, stock config.json (no struprune_layers).

  compact_vs_dense.py --bin build/ci/src/cli/struprune-dist --repo . --work /tmp/cvd
"""
import argparse
import json
import os
import re
import subprocess
import sys

CASES = {
    "mixed": [],
    "round_to": ["prune.round_to=8"],
    "uniform": ["prune.uniform_shape=true", "prune.allocation=uniform"],
}


def run(cmd):
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if p.returncode != 0:
        sys.stdout.write(p.stdout[-3000:])
        raise SystemExit(f"FAIL: exit {p.returncode}: {' '.join(cmd)}")
    return p.stdout


def sets(pairs):
    out = []
    for kv in pairs:
        out += ["--set", kv]
    return out


def layer_shapes(model_dir):
    with open(os.path.join(model_dir, "config.json")) as f:
        c = json.load(f)
    per = c.get("struprune_layers")
    if per is None:
        stock = (c["num_attention_heads"], c["num_key_value_heads"], c["intermediate_size"])
        return [stock] * c["num_hidden_layers"], False
    return [(l["num_attention_heads"], l["num_key_value_heads"], l["intermediate_size"]) for l in per], True


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", required=True)
    ap.add_argument("--repo", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--cases", nargs="*", default=list(CASES))
    args = ap.parse_args()
    cfg = os.path.join(args.repo, "configs", "quickstart.yaml")
    common = ["prune.sparsity=0.3", "eval.before=false", "output.overwrite=true", "logging.level=info",
              "calibration.nsamples=8"]
    failures = 0
    for case in args.cases:
        ppl, ids = {}, {}
        for kind in ("compact", "dense"):
            out = os.path.join(args.work, f"{case}-{kind}")
            run([args.bin, cfg] + sets(common + CASES[case] + [f"output.dir={out}", f"output.checkpoint={kind}"]))
            model = os.path.join(out, "model")
            if kind == "compact":
                shapes, extended = layer_shapes(model)
                print(f"{case}: compact shapes (heads, kv heads, neurons) per layer: {shapes}")
                if case == "mixed" and (not extended or len(set(shapes)) < 2):
                    print(f"FAIL: {case}: expected differing per-layer shapes in struprune_layers")
                    failures += 1
                if case == "round_to" and any(s[2] % 8 for s in shapes):
                    print(f"FAIL: {case}: an MLP width is not a multiple of 8")
                    failures += 1
                if case == "uniform" and (extended or len(set(shapes)) != 1):
                    print(f"FAIL: {case}: expected one shape and a stock config.json")
                    failures += 1
            ev = os.path.join(out, "eval")
            run([args.bin, "eval", cfg] + sets([f"model.path={model}", f"output.dir={ev}", "eval.max_windows=16"]))
            with open(os.path.join(ev, "report.json")) as f:
                ppl[kind] = json.load(f)["eval"]["heldout"]["perplexity"]
            text = run([args.bin, "generate", cfg, "--max-new-tokens", "24"] + sets([f"model.path={model}"]))
            m = re.search(r"generated ids: \[([0-9, ]*)\]", text)
            if not m:
                print(text[-2000:])
                raise SystemExit("FAIL: generate printed no 'generated ids' line")
            ids[kind] = m.group(1)
        rel = abs(ppl["compact"] - ppl["dense"]) / ppl["dense"]
        ok = rel < 1e-5 and ids["compact"] == ids["dense"]
        print(f"{case}: ppl compact {ppl['compact']:.6f} dense {ppl['dense']:.6f} (rel {rel:.2e}); "
              f"greedy ids {'equal' if ids['compact'] == ids['dense'] else 'DIFFER'}: [{ids['compact']}]")
        if not ok:
            print(f"FAIL: {case}: compact and masked dense disagree (dense ids [{ids['dense']}])")
            failures += 1
    if failures:
        raise SystemExit(1)
    print("OK: compact checkpoints match their masked dense forms")


if __name__ == "__main__":
    main()
