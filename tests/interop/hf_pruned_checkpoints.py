#!/usr/bin/env python3
"""Compact checkpoints with per-layer shapes load in stock transformers (issue 23).

Prunes ref-llama and ref-opt (compact, admm, the shipped recipe) at the given sparsities with a small
calibration, then runs hf_load_pruned.py on every output: transformers loads each through the
modeling file the tool wrote (trust_remote_code=True) and must give our held-out perplexity
(relative difference below --tol), our `generate` ids, a save_pretrained round trip with the same
logits, and a PEFT LoRA step that lowers the loss.

Exit 77 (skip) without the shared models or without torch / transformers / peft, unless
STRUPRUNE_REQUIRE_HF=1 (CI), where a missing package is a failure.
usage: hf_pruned_checkpoints.py --bin struprune-dist --repo REPO --shared SHARED --work DIR
                                [--sparsity 0.3 0.5] [--tol 1e-5] [--json OUT]
"""
import argparse
import importlib.util
import json
import os
import shutil
import subprocess
import sys


def edge_case(a, run, evaltext):
    """A copy of a pruned LLaMA checkpoint with layer 1's attention and layer 2's MLP removed whole (the
    shapes a high sparsity gives), evaluated by our `eval`: transformers must agree on it too."""
    from safetensors.torch import load_file, save_file
    src, cfg, _ = run
    out = os.path.join(a.work, "edge")
    mdir = os.path.join(out, "model")
    shutil.rmtree(out, ignore_errors=True)
    shutil.copytree(os.path.join(src, "model"), mdir)
    config = json.load(open(os.path.join(mdir, "config.json")))
    config["struprune_layers"][1].update(num_attention_heads=0, num_key_value_heads=0)
    config["struprune_layers"][2].update(intermediate_size=0)
    json.dump(config, open(os.path.join(mdir, "config.json"), "w"), indent=2)
    gone = [f"model.layers.1.self_attn.{p}_proj.weight" for p in "qkvo"] + \
           [f"model.layers.2.mlp.{p}_proj.weight" for p in ("gate", "up", "down")]
    files = [f for f in os.listdir(mdir) if f.endswith(".safetensors")]
    assert files == ["model.safetensors"], files
    tensors = {k: v for k, v in load_file(os.path.join(mdir, files[0])).items() if k not in gone}
    save_file(tensors, os.path.join(mdir, files[0]), metadata={"format": "pt"})
    cmd = [a.bin, "eval", cfg, "--set", f"model.path={mdir}", "--set", f"output.dir={out}",
           "--set", "output.overwrite=true", "--set", "runtime.precision=fp32", "--set", f"eval.seqlen={a.seqlen}",
           "--set", f"eval.max_windows={a.windows}",
           "--set", f"eval.datasets=[{{name: heldout, path: {evaltext}, format: text}}]"]
    print("+", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True)
    return out, cfg, mdir


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", required=True)
    ap.add_argument("--repo", required=True)
    ap.add_argument("--shared", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--models", nargs="+", default=["ref-llama", "ref-opt"])
    ap.add_argument("--sparsity", type=float, nargs="+", default=[0.3, 0.5])
    ap.add_argument("--nsamples", type=int, default=16)
    ap.add_argument("--seqlen", type=int, default=256)
    ap.add_argument("--windows", type=int, default=24, help="eval.max_windows")
    ap.add_argument("--tol", type=float, default=1e-5)
    ap.add_argument("--json")
    a = ap.parse_args()
    a.shared = os.environ.get("STRUPRUNE_SHARED_DIR") or a.shared

    missing = [m for m in ("torch", "transformers", "peft", "tokenizers") if importlib.util.find_spec(m) is None]
    if missing:
        msg = f"python packages missing: {', '.join(missing)}"
        if os.environ.get("STRUPRUNE_REQUIRE_HF") == "1":
            print(f"FAIL: {msg} (STRUPRUNE_REQUIRE_HF=1)")
            return 1
        print(f"SKIP: {msg}")
        return 77
    evaltext = os.path.join(a.shared, "data", "refcorpus", "heldout-eval.txt")
    models = {m: os.path.join(a.shared, "models", m) for m in a.models}
    if not all(os.path.isdir(p) for p in models.values()) or not os.path.isfile(evaltext):
        print(f"SKIP: shared models or {evaltext} not found")
        return 77

    os.makedirs(a.work, exist_ok=True)
    runs, ok = [], True
    for name, path in models.items():
        cfg = os.path.join(a.repo, "configs", f"{name}.yaml")
        for s in a.sparsity:
            out = os.path.join(a.work, f"{name}-{int(round(s * 100))}")
            cmd = [a.bin, "prune", cfg, "--set", f"model.path={path}", "--set", f"output.dir={out}",
                   "--set", "output.overwrite=true", "--set", "output.checkpoint=compact",
                   "--set", "prune.allocation=admm", "--set", f"prune.sparsity={s}",
                   "--set", f"calibration.path={os.path.join(a.shared, 'data', 'refcorpus', 'heldout-calib.txt')}",
                   "--set", f"calibration.nsamples={a.nsamples}", "--set", f"calibration.seqlen={a.seqlen}",
                   "--set", f"eval.seqlen={a.seqlen}", "--set", f"eval.max_windows={a.windows}",
                   "--set", "runtime.precision=fp32",
                   "--set", f"eval.datasets=[{{name: heldout, path: {evaltext}, format: text}}]"]
            print("+", " ".join(cmd), flush=True)
            subprocess.run(cmd, check=True)
            config = json.load(open(os.path.join(out, "model", "config.json")))
            shaped = "struprune_layers" in config
            print(f"{out}: per-layer shapes: {shaped}, auto_map: {'auto_map' in config}", flush=True)
            # The point of the test: the default allocation gives layers of different shapes.
            ok = ok and shaped and "auto_map" in config
            runs.append((out, cfg, path))
    llama = [r for r in runs if "llama" in os.path.basename(r[0])]
    if llama:
        runs.append(edge_case(a, llama[0], evaltext))
    for out, cfg, path in runs:
        cmd = [sys.executable, os.path.join(os.path.dirname(os.path.abspath(__file__)), "hf_load_pruned.py"),
               evaltext, out, "--tol", str(a.tol), "--bin", a.bin, "--config", cfg, "--roundtrip", "--lora"]
        if a.json:
            cmd += ["--json", f"{a.json}.{os.path.basename(out)}.json"]
        r = subprocess.run(cmd)
        ok = ok and r.returncode == 0
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
