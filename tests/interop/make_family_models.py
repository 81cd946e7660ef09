#!/usr/bin/env python3
"""Reference models of every supported family, computed by transformers (the oracle).

For each Case of tests/interop/families/*.py: a small model is built from its public config class
(seeded; every 1-D parameter, i.e. the norms and biases, gets seeded noise so that it matters),
saved to tests/data/families/<case>/ (config.json, model.safetensors in fp32) with heldout_ids.npy
(int32: the bytes of examples/heldout.txt, for `eval`) and reference.json (the same ids too): the prompt's last-row logits and
per-token NLL in fp32, and the perplexity over eval_windows windows of eval_seqlen tokens in fp32 and
bf16 (each window scores its tokens 1..T-1, as `eval` does). Eager attention, TF32 off.

  make_family_models.py [--only CASE ...] [--out DIR]     (re)build and save
  make_family_models.py --check [--device cuda]            recompute from the saved files and compare

--check is what the GPU machine runs: the committed weights through its transformers must give the
committed values (logits within 1e-4, fp32 perplexity within 1e-5 relative, bf16 within 0.5%).
"""
import argparse
import glob
import importlib
import json
import math
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F
import transformers
from transformers import AutoModelForCausalLM

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from family_common import DATA, PROMPT_OFFSET, Case, heldout_bytes  # noqa: E402

GREEDY = 24  # new tokens of the greedy continuation (prompt + GREEDY runs past the sliding windows)


def all_cases():
    cases = []
    here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "families")
    for path in sorted(glob.glob(os.path.join(here, "*.py"))):
        name = os.path.splitext(os.path.basename(path))[0]
        if name.startswith("_"):
            continue
        for c in importlib.import_module(f"families.{name}").cases():
            assert isinstance(c, Case), f"families/{name}.py: cases() must return Case objects"
            cases.append(c)
    names = [c.name for c in cases]
    assert len(names) == len(set(names)), f"duplicate case names: {names}"
    return cases


def build(case):
    case.config._attn_implementation = "eager"
    torch.manual_seed(case.seed)
    model = AutoModelForCausalLM.from_config(case.config, attn_implementation="eager").float().eval()
    g = torch.Generator().manual_seed(case.seed + 1)
    with torch.no_grad():
        for _, p in sorted(model.named_parameters()):
            if p.dim() == 1:
                p.add_(case.noise * torch.randn(p.shape, generator=g))
    return model


def forward_logits(model, ids, device):
    with torch.no_grad():
        x = torch.tensor(ids, dtype=torch.long, device=device).unsqueeze(0)
        return model(input_ids=x, use_cache=False).logits[0].double().cpu()


def measure(model, case_like, prompt, heldout, device):
    """The values reference.json holds, computed by `model` (already on `device`)."""
    seqlen, windows = case_like["eval_seqlen"], case_like["eval_windows"]
    logits = forward_logits(model, prompt, device)
    target = torch.tensor(prompt[1:])
    out = {"prompt_last_logits_fp32": logits[-1].tolist(),
           "prompt_nll_fp32": F.cross_entropy(logits[:-1], target, reduction="none").tolist()}

    def ppl(m):
        total, first = 0.0, None
        for w in range(windows):
            ids = heldout[w * seqlen:(w + 1) * seqlen]
            lg = forward_logits(m, ids, device)
            nll = F.cross_entropy(lg[:-1], torch.tensor(ids[1:]), reduction="none")
            total += float(nll.sum())
            first = nll.tolist() if first is None else first
        return math.exp(total / (windows * (seqlen - 1))), first

    # Greedy continuation through transformers' KV cache (sliding windows included), with each step's
    # top-1 margin so that a test can skip near-ties.
    with torch.no_grad():
        x = torch.tensor(prompt, dtype=torch.long, device=device).unsqueeze(0)
        g = model.generate(input_ids=x, max_new_tokens=GREEDY, min_new_tokens=GREEDY, do_sample=False,
                           output_scores=True, return_dict_in_generate=True, pad_token_id=0)
    out["greedy_ids"] = g.sequences[0, len(prompt):].tolist()
    out["greedy_margins"] = [float((lambda t: t[0] - t[1])(s[0].double().topk(2).values)) for s in g.scores]
    out["heldout_ppl_fp32"], out["heldout_first_window_nll_fp32"] = ppl(model)
    out["heldout_ppl_bf16"], _ = ppl(model.to(torch.bfloat16))
    model.float()
    return out


def save(case, out_root, device):
    model = build(case)
    folder = os.path.join(out_root, case.name)
    os.makedirs(folder, exist_ok=True)
    model.save_pretrained(folder, safe_serialization=True)
    heldout = heldout_bytes(case.eval_seqlen * case.eval_windows)
    prompt = heldout_bytes(case.prompt_len, PROMPT_OFFSET)
    np.save(os.path.join(folder, "heldout_ids.npy"), np.array(heldout, dtype=np.int32))
    ref = {"case": case.name, "model_type": case.config.model_type, "seed": case.seed,
           "transformers": transformers.__version__, "torch": torch.__version__, "device": device,
           "eval_seqlen": case.eval_seqlen, "eval_windows": case.eval_windows, "prompt_ids": prompt,
           "heldout_ids": heldout}
    ref.update(measure(model.to(device), ref, prompt, heldout, device))
    with open(os.path.join(folder, "reference.json"), "w") as f:
        json.dump(ref, f, indent=1)
    size = sum(os.path.getsize(os.path.join(folder, n)) for n in os.listdir(folder))
    print(f"{case.name:24s} {case.config.model_type:12s} ppl fp32 {ref['heldout_ppl_fp32']:.4f} "
          f"bf16 {ref['heldout_ppl_bf16']:.4f}  {size / 1e6:.2f} MB")


def check(folder, device):
    with open(os.path.join(folder, "reference.json")) as f:
        ref = json.load(f)
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32, attn_implementation="eager")
    model = model.to(device).eval()
    heldout = np.load(os.path.join(folder, "heldout_ids.npy")).tolist()
    got = measure(model, ref, ref["prompt_ids"], heldout, device)
    d_logit = max(abs(a - b) for a, b in zip(got["prompt_last_logits_fp32"], ref["prompt_last_logits_fp32"]))
    d_nll = max(abs(a - b) for a, b in zip(got["prompt_nll_fp32"], ref["prompt_nll_fp32"]))
    r32 = abs(got["heldout_ppl_fp32"] / ref["heldout_ppl_fp32"] - 1)
    r16 = abs(got["heldout_ppl_bf16"] / ref["heldout_ppl_bf16"] - 1)
    firm = [i for i, m in enumerate(ref["greedy_margins"]) if m > 1e-3]
    first_firm_diff = next((i for i in firm if got["greedy_ids"][i] != ref["greedy_ids"][i]), None)
    ok = d_logit <= 1e-4 and d_nll <= 1e-4 and r32 <= 1e-5 and r16 <= 5e-3 and first_firm_diff is None
    row = {"case": ref["case"], "made_with": ref["transformers"], "checked_with": transformers.__version__,
           "device": device, "max_abs_logit_diff": d_logit, "max_abs_nll_diff": d_nll, "ppl_fp32_rel_diff": r32,
           "ppl_bf16_rel_diff": r16, "greedy_first_diff": first_firm_diff, "ok": ok}
    print(f"{ref['case']:24s} |dlogit| {d_logit:.2e} |dnll| {d_nll:.2e} ppl32 {r32:.2e} ppl16 {r16:.2e} "
          f"{'ok' if ok else 'FAIL'}", flush=True)
    return row


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", nargs="*", help="case names (default: all)")
    ap.add_argument("--out", default=DATA)
    ap.add_argument("--check", action="store_true", help="recompute from the saved folders and compare")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--json", help="--check: write the rows here")
    args = ap.parse_args()
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    cases = [c for c in all_cases() if not args.only or c.name in args.only]
    if args.only:
        missing = set(args.only) - {c.name for c in cases}
        assert not missing, f"no such case: {sorted(missing)}"
    if not args.check:
        for c in cases:
            save(c, args.out, args.device)
        return
    rows = [check(os.path.join(args.out, c.name), args.device) for c in cases]
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"transformers": transformers.__version__, "rows": rows}, f, indent=1)
    ok = all(r["ok"] for r in rows)
    print("all within tolerance" if ok else "FAILED")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
