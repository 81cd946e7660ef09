#!/usr/bin/env python3
"""Token ids sampled from a model itself, as calibration or evaluation data for a model that came without
text of its own domain (stories260K: no tokenizer.json, no TinyStories text here). Sequences start at BOS and
run to --length tokens at temperature 1 with no truncation of the distribution, so the held-out perplexity of a
pruned model on them measures how far it moved from the dense model's own distribution. Writes a 1-D int32
.npy that struprune-dist reads as `format: ids`. Needs torch and transformers.

  bench/sample_ids.py --model ../shared/models/stories260K-hf --out calib.npy --seed 1 --sequences 64
"""
import argparse

import numpy as np
import torch
from transformers import AutoModelForCausalLM


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--sequences", type=int, default=64, help="a multiple of --batch")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--length", type=int, default=512, help="tokens per sequence, BOS included")
    a = ap.parse_args()
    torch.manual_seed(a.seed)
    m = AutoModelForCausalLM.from_pretrained(a.model, dtype=torch.float32).eval()
    bos = m.config.bos_token_id if m.config.bos_token_id is not None else 1
    out = []
    with torch.no_grad():
        for _ in range(a.sequences // a.batch):
            start = torch.full((a.batch, 1), bos, dtype=torch.long)
            g = m.generate(start, do_sample=True, temperature=1.0, top_k=0, top_p=1.0, max_new_tokens=a.length - 1,
                           min_new_tokens=a.length - 1, pad_token_id=0)
            out.append(g.reshape(-1).numpy())
    ids = np.concatenate(out).astype(np.int32)
    np.save(a.out, ids)
    print(f"{a.out}: {ids.size} ids")


if __name__ == "__main__":
    main()
