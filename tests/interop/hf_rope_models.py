#!/usr/bin/env python3
"""RoPE scaling against transformers: for each rope type, a small randomly initialised
LlamaForCausalLM is saved (safetensors + config.json, transformers 5's rope_parameters), and our
forward of a random prompt (sp_prompt_logits: last-row logits and the per-token NLL of every
position) must match transformers' within --tol (fp32, TF32 off). Each model is also checked
with its config rewritten in the transformers 4 spelling (rope_theta + rope_scaling with "type").
The prompts are longer than the original context, so scaling matters ('dynamic' grows its base).

  hf_rope_models.py --bin PATH/sp_prompt_logits [--device cpu|cuda] [--tol 1e-4] [--json OUT] [--keep DIR]

Exit status 1 when any difference exceeds --tol. Needs torch + transformers (the GPU machine).
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

import torch
import torch.nn.functional as F
from transformers import LlamaConfig, LlamaForCausalLM

THETA = 10000.0
# (name, rope_parameters without rope_theta, max_position_embeddings, prompt length)
CASES = [
    ("default", {"rope_type": "default"}, 64, 48),
    ("linear", {"rope_type": "linear", "factor": 2.5}, 64, 48),
    ("dynamic", {"rope_type": "dynamic", "factor": 2.0}, 32, 80),
    ("llama3", {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                "original_max_position_embeddings": 64}, 512, 96),
    ("yarn", {"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 16}, 64, 64),
    ("yarn_mscale", {"rope_type": "yarn", "factor": 8.0, "mscale": 0.707, "mscale_all_dim": 1.0, "beta_fast": 16,
                     "beta_slow": 2, "original_max_position_embeddings": 16}, 128, 64),
    ("yarn_attention_factor", {"rope_type": "yarn", "factor": 4.0, "attention_factor": 1.3, "truncate": False,
                               "original_max_position_embeddings": 16}, 64, 64),
]


def make_model(rope, max_pos, seed):
    cfg = LlamaConfig(vocab_size=256, hidden_size=128, intermediate_size=256, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, head_dim=32, max_position_embeddings=max_pos,
                      rms_norm_eps=1e-5, initializer_range=0.08, tie_word_embeddings=False,
                      rope_parameters=dict(rope, rope_theta=THETA), bos_token_id=1, eos_token_id=2)
    torch.manual_seed(seed)
    return LlamaForCausalLM(cfg).float().eval()


def legacy_config(path):
    """config.json in transformers 4's spelling: rope_theta at the top, rope_scaling with "type"."""
    with open(path) as f:
        c = json.load(f)
    rp = dict(c.pop("rope_parameters"))
    c["rope_theta"] = rp.pop("rope_theta")
    kind = rp.pop("rope_type")
    c["rope_scaling"] = None if kind == "default" else dict(rp, type=kind)
    with open(path, "w") as f:
        json.dump(c, f, indent=2)


def ours(binary, mdir, ids, device):
    out = os.path.join(mdir, "ours.json")
    subprocess.run([binary, mdir, ",".join(map(str, ids)), out, device], check=True)
    with open(out) as f:
        r = json.load(f)
    return torch.tensor(r["last_logits"], dtype=torch.float64), torch.tensor(r["nll"], dtype=torch.float64)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", required=True)
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"], help="where our forward runs")
    ap.add_argument("--tol", type=float, default=1e-4)
    ap.add_argument("--json")
    ap.add_argument("--keep")
    args = ap.parse_args()
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    root = args.keep or tempfile.mkdtemp(prefix="hf_rope_")
    rows, ok = [], True
    for i, (name, rope, max_pos, t) in enumerate(CASES):
        model = make_model(rope, max_pos, seed=100 + i)
        g = torch.Generator().manual_seed(i)
        ids = torch.randint(3, 256, (t,), generator=g)
        with torch.no_grad():
            logits = model(input_ids=ids.unsqueeze(0), use_cache=False).logits[0].double()
        want_last = logits[-1]
        want_nll = F.cross_entropy(logits[:-1], ids[1:], reduction="none")
        # The scaling must matter: the same weights with default RoPE give other logits.
        plain = make_model({"rope_type": "default"}, max_pos, seed=100 + i)
        with torch.no_grad():
            effect = (plain(input_ids=ids.unsqueeze(0), use_cache=False).logits[0, -1].double() - want_last).abs().max()
        if name != "default" and effect <= 100 * args.tol:
            print(f"{name}: scaling changes the logits by only {effect:.2e}: the case tests nothing")
            ok = False
        for spelling in ("rope_parameters", "rope_scaling"):
            mdir = os.path.join(root, f"{name}_{spelling}")
            model.save_pretrained(mdir)
            if spelling == "rope_scaling":
                legacy_config(os.path.join(mdir, "config.json"))
            got_last, got_nll = ours(args.bin, mdir, ids.tolist(), args.device)
            d_last = (got_last - want_last).abs().max().item()
            d_nll = (got_nll - want_nll).abs().max().item()
            good = d_last <= args.tol and d_nll <= args.tol
            ok &= good
            rows.append({"case": name, "config": spelling, "prompt": t, "max_abs_logit_diff": d_last,
                         "max_abs_nll_diff": d_nll, "logit_range": float(want_last.abs().max()), "scaling_effect": float(effect),
                         "ok": good})
            print(f"{name:22s} {spelling:16s} T={t:3d} |dlogit|={d_last:.2e} |dnll|={d_nll:.2e} "
                  f"{'ok' if good else 'FAIL'}", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"tol": args.tol, "rows": rows}, f, indent=2)
    print("all within tolerance" if ok else "FAILED")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
