#!/usr/bin/env python3
"""Stock Hugging Face transformers loads a pruned checkpoint and gets the perplexity we reported.

For each RUN_DIR (an output.dir of `struprune-dist prune`), it loads RUN_DIR/model with
AutoModelForCausalLM.from_pretrained: stock classes for a stock config.json (masked dense, uniform
shapes), and the modeling file the tool wrote beside it (trust_remote_code=True, config.json
`auto_map`) when the layers differ in shape. It computes the held-out perplexity with the
protocol of ../shared/tools/make_reference.py (one BOS, the text tokenized without special tokens,
non-overlapping windows of eval.seqlen, mean NLL of tokens 1..seqlen-1, fp32 without TF32) and
compares it with RUN_DIR/report.json's perplexity_after. Exit status 1 when any relative difference
exceeds --tol.

  hf_load_pruned.py EVAL_TEXT RUN_DIR [RUN_DIR...] [--dataset heldout] [--tol 1e-4] [--json OUT]
                    [--bin struprune-dist --config RUN.yaml]   also: our `generate` ids == HF greedy ids
                    [--roundtrip]  save_pretrained + from_pretrained give the same logits
                    [--lora]       PEFT LoRA on every projection; one AdamW step lowers the loss

Runs where torch + transformers are installed (the GPU machine; CPU works too, slowly).
"""
import argparse
import json
import math
import os
import re
import subprocess
import sys
import tempfile

import torch
import torch.nn.functional as F
from tokenizers import Tokenizer
from transformers import AutoModelForCausalLM


@torch.no_grad()
def perplexity(model, ids, seqlen, device, max_windows=0):
    n = ids.numel() // seqlen
    n = min(n, max_windows) if max_windows > 0 else n
    nll = 0.0
    for i in range(n):
        x = ids[i * seqlen:(i + 1) * seqlen].unsqueeze(0).to(device)
        logits = model(input_ids=x, use_cache=False).logits.float()
        nll += F.cross_entropy(logits[0, :-1], x[0, 1:], reduction="sum").item()
    return math.exp(nll / (n * (seqlen - 1))), n


def load(mdir, device):
    remote = "auto_map" in json.load(open(os.path.join(mdir, "config.json")))
    model = AutoModelForCausalLM.from_pretrained(mdir, dtype=torch.float32, trust_remote_code=remote)
    return model.to(device).eval(), remote


def our_generate(args, mdir, prompt, n):
    """Greedy ids of our engine (`generate` logs them) for the same checkpoint."""
    out = subprocess.run([args.bin, "generate", args.config, "--set", f"model.path={os.path.abspath(mdir)}",
                          "--set", "runtime.precision=fp32", "--prompt", prompt, "--max-new-tokens", str(n)],
                         capture_output=True, text=True, check=True)
    m = re.search(r"generated ids: \[([0-9, ]*)\]", out.stdout + out.stderr)
    assert m, f"no 'generated ids' line in:\n{out.stdout}{out.stderr}"
    return [int(x) for x in m.group(1).split(",") if x.strip()]


@torch.no_grad()
def hf_generate(model, tok, bos, prompt, n, device):
    ids = torch.tensor([[bos] + tok.encode(prompt, add_special_tokens=False).ids], device=device)
    out = model.generate(ids, max_new_tokens=n, do_sample=False, eos_token_id=None, pad_token_id=0)
    return out[0, ids.shape[1]:].tolist()


@torch.no_grad()
def roundtrip_diff(model, mdir, ids, device):
    """save_pretrained, then from_pretrained: max |logits difference| on one window."""
    x = ids[:64].unsqueeze(0).to(device)
    with tempfile.TemporaryDirectory() as tmp:
        model.save_pretrained(tmp)
        again, _ = load(tmp, device)
        return (model(input_ids=x).logits - again(input_ids=x).logits).abs().max().item()


def lora_step(model, ids, device):
    """LoRA adapters on every projection; one optimiser step lowers the loss on the same batch."""
    from peft import LoraConfig, get_peft_model
    names = {n.split(".")[-1] for n, m in model.named_modules() if isinstance(m, torch.nn.Linear) and n != "lm_head"}
    peft = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules=sorted(names), init_lora_weights="gaussian"))
    peft.train()
    x = ids[:128].unsqueeze(0).to(device)
    opt = torch.optim.AdamW([p for p in peft.parameters() if p.requires_grad], lr=1e-3)
    before = peft(input_ids=x, labels=x).loss
    before.backward()
    opt.step()
    with torch.no_grad():
        after = peft(input_ids=x, labels=x).loss.item()
    return before.item(), after, sorted(names)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("eval_text")
    ap.add_argument("runs", nargs="+")
    ap.add_argument("--dataset", default="heldout")
    ap.add_argument("--tol", type=float, default=1e-4)
    ap.add_argument("--json")
    ap.add_argument("--bin", help="struprune-dist, to compare `generate` ids")
    ap.add_argument("--config", help="the prune's config (with --bin)")
    ap.add_argument("--prompt", default="Once upon a time")
    ap.add_argument("--new-tokens", type=int, default=16)
    ap.add_argument("--roundtrip", action="store_true")
    ap.add_argument("--lora", action="store_true")
    args = ap.parse_args()
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    device = "cuda" if torch.cuda.is_available() else "cpu"
    rows, ok = [], True
    for run in args.runs:
        mdir = os.path.join(run, "model")
        report = json.load(open(os.path.join(run, "report.json")))
        # a prune's report (perplexity_after) or an eval's (eval)
        ours = (report.get("perplexity_after") or report["eval"])[args.dataset]
        cfg = json.load(open(os.path.join(mdir, "config.json")))
        tok = Tokenizer.from_file(os.path.join(mdir, "tokenizer.json"))
        text = open(args.eval_text, encoding="utf-8").read()
        ids = torch.tensor([cfg["bos_token_id"]] + tok.encode(text, add_special_tokens=False).ids, dtype=torch.long)
        model, remote = load(mdir, device)
        params = sum(p.numel() for p in model.parameters())
        ppl, n = perplexity(model, ids, ours["seqlen"], device, ours["windows"])
        rel = abs(ppl / ours["perplexity"] - 1)
        ok = ok and rel <= args.tol and n == ours["windows"]
        row = {"run": run, "hf_ppl": ppl, "ours": ours["perplexity"], "rel_diff": rel, "windows": n,
               "hf_parameters": params, "our_parameters": report["model"].get("parameters_after", report["model"].get("parameters")),
               "stock_config": "struprune_layers" not in cfg, "remote_code": remote}
        print(f"{run}: transformers ppl {ppl:.6f}  ours {ours['perplexity']:.6f}  rel diff {rel:.2e}  "
              f"({n} windows, {params} parameters, stock config.json: {row['stock_config']}, "
              f"remote code: {remote})", flush=True)
        if args.bin:
            theirs = hf_generate(model, tok, cfg["bos_token_id"], args.prompt, args.new_tokens, device)
            mine = our_generate(args, mdir, args.prompt, args.new_tokens)
            row["generate_equal"] = theirs == mine
            ok = ok and theirs == mine
            print(f"  generate: transformers {theirs}\n            ours         {mine}  equal: {theirs == mine}")
        if args.roundtrip:
            row["roundtrip_max_diff"] = roundtrip_diff(model, mdir, ids, device)
            ok = ok and row["roundtrip_max_diff"] == 0.0
            print(f"  save_pretrained round trip: max |logit diff| {row['roundtrip_max_diff']:.3g}")
        if args.lora:
            before, after, targets = lora_step(model, ids, device)
            row["lora_loss"] = [before, after]
            ok = ok and after < before
            print(f"  PEFT LoRA on {targets}: loss {before:.5f} -> {after:.5f}")
        rows.append(row)
    if args.json:
        json.dump(rows, open(args.json, "w"), indent=1)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
