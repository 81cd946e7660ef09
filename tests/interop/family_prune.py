#!/usr/bin/env python3
"""Every family is pruned end to end (issue 24): for each model in tests/data/families, `prune` at 30%
(KV groups and neurons, the default admm allocation, fp32) in three output forms: compact with per-layer
shapes, masked dense (stock shapes), and uniform compact (stock config). For each:
  - masks.h5 has the documented layout (check_masks_layout.py) and no half-pruned KV group: every
    layer keeps heads = KV heads x the model's group size;
  - the written checkpoint reloads in our `eval` at the perplexity report.json gave for it;
  - where transformers is installed (required with STRUPRUNE_REQUIRE_HF=1): stock transformers loads
    the masked-dense and uniform checkpoints (and per-layer ones through the modeling file we write,
    where config.json has an auto_map) at our perplexity within --tol, fp32, eager attention.

  family_prune.py --bin struprune-dist [--only CASE ...] [--device cpu|cuda] [--work DIR] [--tol 1e-5]
"""
import argparse
import importlib.util
import json
import math
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from family_common import DATA  # noqa: E402

FORMS = {"compact": [], "dense": ["--set", "output.checkpoint=dense"],
         "uniform": ["--set", "prune.uniform_shape=true"]}


def write_config(path, model, out, device, seqlen, windows):
    ids = os.path.join(model, "heldout_ids.npy")
    with open(path, "w") as f:
        f.write(f"""model: {{path: {model}}}
calibration: {{path: {ids}, format: ids, nsamples: {windows}, seqlen: {seqlen}, seed: 0}}
prune:
  method: structprune
  sparsity: 0.3
  structures: {{attention: kv_groups, mlp: true}}
  allocation: admm
runtime: {{device: {device}, precision: fp32, threads: 1}}
output: {{dir: {out}, overwrite: true}}
eval:
  datasets: [{{name: heldout, path: {ids}, format: ids}}]
  seqlen: {seqlen}
""")


def run(cmd):
    print("+", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True)


def hf_perplexity(mdir, ids, seqlen):
    import torch
    import torch.nn.functional as F
    from transformers import AutoModelForCausalLM
    torch.backends.cuda.matmul.allow_tf32 = False
    remote = "auto_map" in json.load(open(os.path.join(mdir, "config.json")))
    model = AutoModelForCausalLM.from_pretrained(mdir, dtype=torch.float32, attn_implementation="eager",
                                                 trust_remote_code=remote).eval()
    total, n = 0.0, len(ids) // seqlen
    with torch.no_grad():
        for w in range(n):
            x = torch.tensor(ids[w * seqlen:(w + 1) * seqlen]).unsqueeze(0)
            logits = model(input_ids=x, use_cache=False).logits[0].double()
            total += float(F.cross_entropy(logits[:-1], x[0, 1:], reduction="sum"))
    return math.exp(total / (n * (seqlen - 1)))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", required=True)
    ap.add_argument("--only", nargs="*")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--work", default="/tmp/family_prune")
    ap.add_argument("--tol", type=float, default=1e-5)
    a = ap.parse_args()
    if a.device.startswith("cuda") and not os.path.exists("/dev/nvidia0"):
        print("SKIP: no GPU")
        return 77
    hf = all(importlib.util.find_spec(m) for m in ("torch", "transformers", "numpy"))
    if not hf and os.environ.get("STRUPRUNE_REQUIRE_HF") == "1":
        print("FAIL: torch / transformers / numpy missing (STRUPRUNE_REQUIRE_HF=1)")
        return 1
    cases = sorted(d for d in os.listdir(DATA) if os.path.isfile(os.path.join(DATA, d, "reference.json")))
    cases = [c for c in cases if not a.only or c in a.only]
    ok = True
    for case in cases:
        model = os.path.join(DATA, case)
        ref = json.load(open(os.path.join(model, "reference.json")))
        seqlen, windows = ref["eval_seqlen"], ref["eval_windows"]
        stock = json.load(open(os.path.join(model, "config.json")))
        group = stock["num_attention_heads"] // stock.get("num_key_value_heads", stock["num_attention_heads"])
        for form, sets in FORMS.items():
            out = os.path.join(a.work, case, form)
            cfg = os.path.join(a.work, case, f"{form}.yaml")
            os.makedirs(os.path.dirname(cfg), exist_ok=True)
            write_config(cfg, model, out, a.device, seqlen, windows)
            run([a.bin, "prune", cfg] + sets)
            report = json.load(open(os.path.join(out, "report.json")))
            ppl = report["perplexity_after"]["heldout"]["perplexity"]
            mdir = os.path.join(out, "model")
            layers = report["prune"]["layers"]
            half = [l["layer"] for l in layers if l["num_attention_heads"] != group * l["num_key_value_heads"]]
            removed = report["prune"]["achieved_sparsity"]
            good = not half and removed > 0.1
            layout = subprocess.run([sys.executable, os.path.join(HERE, "check_masks_layout.py"),
                                     os.path.join(out, "masks.h5"), "-"], capture_output=True, text=True)
            good &= layout.returncode == 0
            # Our `eval` of the written checkpoint gives the reported perplexity.
            again = os.path.join(a.work, case, f"{form}-eval")
            run([a.bin, "eval", cfg, "--set", f"model.path={mdir}", "--set", f"output.dir={again}"])
            ours = json.load(open(os.path.join(again, "report.json")))["eval"]["heldout"]["perplexity"]
            d_ours = abs(ours / ppl - 1)
            good &= d_ours <= 1e-6
            d_hf = None
            if hf:
                import numpy as np
                ids = np.load(os.path.join(model, "heldout_ids.npy")).tolist()
                d_hf = abs(hf_perplexity(mdir, ids, seqlen) / ppl - 1)
                good &= d_hf <= a.tol
            print(f"{case:24s} {form:8s} sparsity {removed:.3f} ppl {ppl:.4f} our reload {d_ours:.1e} "
                  f"transformers {'-' if d_hf is None else f'{d_hf:.1e}'} half-pruned groups {half} "
                  f"{'' if layout.returncode == 0 else layout.stdout + layout.stderr}{'ok' if good else 'FAIL'}",
                  flush=True)
            ok &= good
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
