#!/usr/bin/env python3
"""Sliding-window attention and Qwen3 q/k norms against transformers, generation included: for each
case a small randomly initialised model (Mistral, Qwen2 and Qwen3 with windows shorter than the
prompt, Qwen3 with explicit layer_types) is saved, and our forward of a random prompt
(sp_prompt_logits) must match transformers' last-row logits and per-token NLL within --tol, and our
greedy continuation through the KV cache (past the window, so cached keys leave it) must equal
transformers' greedy ids. The family reference models (tests/data/families) cover eval and prune;
this covers the KV-cache path.

  hf_window_generate.py --bin PATH/sp_prompt_logits [--device cpu|cuda] [--tol 1e-4] [--keep DIR]

Exit 1 on any mismatch, 77 (skip) without torch / transformers.
"""
import argparse
import importlib.util
import json
import os
import subprocess
import sys
import tempfile

PROMPT, NEW = 40, 30


def cases():
    from transformers import (MistralConfig, MistralForCausalLM, Qwen2Config, Qwen2ForCausalLM, Qwen3Config,
                              Qwen3ForCausalLM)
    common = dict(vocab_size=256, hidden_size=64, intermediate_size=96, num_attention_heads=4, num_key_value_heads=2,
                  max_position_embeddings=256, rms_norm_eps=1e-6, initializer_range=0.25)
    return [
        ("qwen3_sliding", Qwen3ForCausalLM,
         Qwen3Config(num_hidden_layers=3, head_dim=24, use_sliding_window=True, sliding_window=7, max_window_layers=1,
                     attention_bias=True, tie_word_embeddings=False, **common)),
        ("qwen3_layer_types", Qwen3ForCausalLM,
         Qwen3Config(num_hidden_layers=3, head_dim=16, use_sliding_window=True, sliding_window=5,
                     layer_types=["sliding_attention", "full_attention", "sliding_attention"],
                     tie_word_embeddings=True, **common)),
        ("qwen2_sliding", Qwen2ForCausalLM,
         Qwen2Config(num_hidden_layers=3, use_sliding_window=True, sliding_window=9, max_window_layers=1, **common)),
        ("mistral_sliding", MistralForCausalLM, MistralConfig(num_hidden_layers=2, sliding_window=6, **common)),
    ]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", required=True)
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"], help="where our forward runs")
    ap.add_argument("--tol", type=float, default=1e-4)
    ap.add_argument("--keep")
    args = ap.parse_args()
    if any(importlib.util.find_spec(m) is None for m in ("torch", "transformers")):
        print("SKIP: torch / transformers missing")
        return 77
    import torch
    import torch.nn.functional as F

    root = args.keep or tempfile.mkdtemp(prefix="hf_window_")
    ids = torch.randint(0, 256, (PROMPT,), generator=torch.Generator().manual_seed(0)).tolist()
    ok = True
    for name, cls, cfg in cases():
        cfg._attn_implementation = "eager"
        torch.manual_seed(1)
        model = cls(cfg).float().eval()
        with torch.no_grad():  # seeded norm weights and biases, so that they matter
            g = torch.Generator().manual_seed(2)
            for p in model.parameters():
                if p.ndim == 1:
                    p.add_(torch.randn(p.shape, generator=g) * 0.3)
        mdir = os.path.join(root, name)
        model.save_pretrained(mdir)
        with torch.no_grad():
            logits = model(torch.tensor([ids])).logits[0].double()
            theirs = model.generate(torch.tensor([ids]), max_new_tokens=NEW, do_sample=False, eos_token_id=None,
                                    pad_token_id=0)[0, PROMPT:].tolist()
        nll = F.cross_entropy(logits[:-1], torch.tensor(ids[1:]), reduction="none")
        out = os.path.join(mdir, "ours.json")
        subprocess.run([args.bin, mdir, ",".join(map(str, ids)), out, args.device, str(NEW)], check=True,
                       capture_output=True)
        with open(out) as f:
            r = json.load(f)
        dl = (torch.tensor(r["last_logits"], dtype=torch.float64) - logits[-1]).abs().max().item()
        dn = (torch.tensor(r["nll"], dtype=torch.float64) - nll).abs().max().item()
        same = r["generated"] == theirs
        good = dl <= args.tol and dn <= args.tol and same and len(set(theirs)) > 3  # a varied continuation
        ok = ok and good
        print(f"{'ok  ' if good else 'FAIL'} {name}: windows {getattr(cfg, 'layer_types', None)} x "
              f"{cfg.sliding_window}; max |logit diff| {dl:.2e}, max |nll diff| {dn:.2e}, "
              f"greedy {NEW} ids {'equal' if same else 'differ'} ({len(set(theirs))} distinct)", flush=True)
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
