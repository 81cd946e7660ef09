#!/usr/bin/env python3
"""Stock Hugging Face transformers loads a pruned checkpoint and gets the perplexity we reported.

For each RUN_DIR (an output.dir of `struprune-dist prune`), it loads RUN_DIR/model with
AutoModelForCausalLM.from_pretrained (no custom code), computes the held-out perplexity with the
protocol of ../shared/tools/make_reference.py (one BOS, the text tokenized without special tokens,
non-overlapping windows of eval.seqlen, mean NLL of tokens 1..seqlen-1, fp32 without TF32) and
compares it with RUN_DIR/report.json's perplexity_after. Exit status 1 when any relative difference
exceeds --tol.

  hf_load_pruned.py EVAL_TEXT RUN_DIR [RUN_DIR...] [--dataset heldout] [--tol 1e-4] [--json OUT]

Runs where torch + transformers are installed (the GPU machine; CPU works too, slowly).
"""
import argparse
import json
import math
import os
import sys

import torch
import torch.nn.functional as F
from tokenizers import Tokenizer
from transformers import AutoModelForCausalLM


@torch.no_grad()
def perplexity(model, ids, seqlen, device):
    n = ids.numel() // seqlen
    nll = 0.0
    for i in range(n):
        x = ids[i * seqlen:(i + 1) * seqlen].unsqueeze(0).to(device)
        logits = model(input_ids=x, use_cache=False).logits.float()
        nll += F.cross_entropy(logits[0, :-1], x[0, 1:], reduction="sum").item()
    return math.exp(nll / (n * (seqlen - 1))), n


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("eval_text")
    ap.add_argument("runs", nargs="+")
    ap.add_argument("--dataset", default="heldout")
    ap.add_argument("--tol", type=float, default=1e-4)
    ap.add_argument("--json")
    args = ap.parse_args()
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    device = "cuda" if torch.cuda.is_available() else "cpu"
    rows, ok = [], True
    for run in args.runs:
        mdir = os.path.join(run, "model")
        report = json.load(open(os.path.join(run, "report.json")))
        ours = report["perplexity_after"][args.dataset]
        cfg = json.load(open(os.path.join(mdir, "config.json")))
        tok = Tokenizer.from_file(os.path.join(mdir, "tokenizer.json"))
        text = open(args.eval_text, encoding="utf-8").read()
        ids = torch.tensor([cfg["bos_token_id"]] + tok.encode(text, add_special_tokens=False).ids, dtype=torch.long)
        model = AutoModelForCausalLM.from_pretrained(mdir, dtype=torch.float32).to(device).eval()
        params = sum(p.numel() for p in model.parameters())
        ppl, n = perplexity(model, ids, ours["seqlen"], device)
        rel = abs(ppl / ours["perplexity"] - 1)
        ok = ok and rel <= args.tol and n == ours["windows"]
        row = {"run": run, "hf_ppl": ppl, "ours": ours["perplexity"], "rel_diff": rel, "windows": n,
               "hf_parameters": params, "our_parameters": report["model"]["parameters_after"],
               "stock_config": "struprune_layers" not in cfg}
        rows.append(row)
        print(f"{run}: transformers ppl {ppl:.6f}  ours {ours['perplexity']:.6f}  rel diff {rel:.2e}  "
              f"({n} windows, {params} parameters, stock config.json: {row['stock_config']})", flush=True)
    if args.json:
        json.dump(rows, open(args.json, "w"), indent=1)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
