#!/usr/bin/env python3
"""Inference speedup of compact pruned checkpoints over the dense model, in this engine.

For each model it prunes at each sparsity (compact checkpoint), then runs
`struprune-dist bench PRUNED --baseline DENSE` (prefill and decode tokens/s, median of repeats,
both models measured in the same run) and collects the speedups and the FLOP ratios the bench
reports. Models:
  llama2-7b  LLaMA-2-7B shapes (bench/configs/llama2-7b.json) with SYNTHETIC weights, cut to
             --layers decoder layers (default 4): a layer's speed does not depend on the depth and
             a 32-layer checkpoint would take minutes to write. Pruned cheaply (the values are
             random, the speed does not depend on them): wanda scores, no refit, a few windows,
             allocation uniform (every layer 1 - s of its heads and neurons) unless --allocation.
  ref-llama  the shared reference model, pruned by structprune (admm, defaults) on 16 x 512
             calibration windows: per-layer shapes differ.
Writes OUT/speed.json (every figure) and OUT/speed.md (the table), and the runs under OUT/runs.

  bench/speed.py --bin build/cuda/src/cli/struprune-dist --shared ../shared --out out/speed
      [--models llama2-7b ref-llama] [--sparsity 0.2 0.3 0.5] [--batch 1 16] [--layers 4]
      [--round-to 1] [--device cuda] [--precision bf16] [--repeats 3]

Only the standard library: it runs the binary and reads JSON.
"""
import argparse
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def run(cmd, log, timeout):
    t0 = time.time()
    with open(log, "a") as f:
        f.write("+ " + " ".join(cmd) + "\n")
        f.flush()
        p = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, timeout=timeout)
    if p.returncode != 0:
        with open(log) as f:
            sys.stderr.write(f.read()[-3000:])
        raise SystemExit(f"failed (exit {p.returncode}): {' '.join(cmd)}")
    return time.time() - t0


def synthetic_7b(out, layers):
    with open(os.path.join(HERE, "configs", "llama2-7b.json")) as f:
        cfg = json.load(f)
    cfg.pop("_comment", None)
    cfg["num_hidden_layers"] = layers
    d = os.path.join(out, f"llama2-7b-{layers}layers")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
    return d


def yaml_config(a, model, out, sparsity, round_to):
    calib = os.path.join(a.shared, "data", "refcorpus", "heldout-calib.txt")
    tok = os.path.join(a.shared, "models", "ref-llama", "tokenizer.json")  # LLaMA-2's 32000-id vocabulary
    lines = []
    if model["synthetic"]:
        lines += [f"model: {{path: {model['path']}, synthetic: true, tokenizer: {tok}}}",
                  f"calibration: {{path: {calib}, format: text, nsamples: {a.nsamples_7b}, seqlen: 512}}",
                  f"prune: {{sparsity: {sparsity}, structures: {{attention: heads, mlp: true}}, metric: wanda, "
                  f"normalize: none, reconstruct: false, allocation: {a.allocation}, round_to: {round_to}}}",
                  "output: {checkpoint: compact, dtype: bf16, overwrite: true}"]
    else:
        lines += [f"model: {{path: {model['path']}}}",
                  f"calibration: {{path: {calib}, format: text, nsamples: {a.nsamples_ref}, seqlen: 512}}",
                  f"prune: {{sparsity: {sparsity}, round_to: {round_to}}}",
                  "output: {checkpoint: compact, overwrite: true}"]
    lines += [f"runtime: {{device: {a.device}, precision: {a.precision}}}",
              "eval: {datasets: [], before: false}",
              f"bench: {{batch: [{', '.join(map(str, a.batch))}], prompt: [{', '.join(map(str, model['prompt']))}], "
              f"generate: {a.generate}, repeats: {a.repeats}, warmup: 1}}",
              f"logging: {{level: info}}", ""]
    path = os.path.join(out, "config.yaml")
    with open(path, "w") as f:
        f.write("\n".join(lines))
    return path


def write_tables(a, rows):
    """OUT/speed.json and OUT/speed.md from the rows so far (rewritten after every run)."""
    with open(os.path.join(a.out, "speed.json"), "w") as f:
        json.dump({"device": a.device, "precision": a.precision, "generate": a.generate, "repeats": a.repeats,
                   "rows": rows}, f, indent=2)
    hdr = ("| model | sparsity (achieved) | round_to | batch | prompt | prefill tok/s pruned / dense | speedup | "
           "FLOP ratio | decode tok/s pruned / dense | speedup | FLOP ratio |")
    md = [hdr, "|" + "---|" * 11]
    for x in rows:
        label = x["model"] + (f" ({x['layers']} layers, synthetic)" if x["layers"] else "")
        if "dense_decode_of_floor" in x:
            label += f" [dense decode at {100 * x['dense_decode_of_floor']:.0f}% of the HBM floor]"
        if x.get("graphs"):
            label += " [CUDA graph]"
        md.append(f"| {label} | {x['target_sparsity']:.2f} ({x['achieved_sparsity']:.3f}) | {x['round_to']} | "
                  f"{x['batch']} | {x['prompt']} | {x['pruned_prefill_tok_s']:,.0f} / {x['dense_prefill_tok_s']:,.0f} | "
                  f"**{x['prefill_speedup']:.2f}x** | {x['prefill_flops_ratio']:.2f}x | "
                  f"{x['pruned_decode_tok_s']:,.1f} / {x['dense_decode_tok_s']:,.1f} | **{x['decode_speedup']:.2f}x** | "
                  f"{x['decode_flops_ratio']:.2f}x |")
    with open(os.path.join(a.out, "speed.md"), "w") as f:
        f.write("\n".join(md) + "\n")
    return "\n".join(md)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", required=True)
    ap.add_argument("--shared", required=True, help="the shared folder (models/ref-llama, data/refcorpus)")
    ap.add_argument("--out", required=True)
    ap.add_argument("--models", nargs="+", default=["llama2-7b", "ref-llama"])
    ap.add_argument("--sparsity", nargs="+", type=float, default=[0.2, 0.3, 0.5])
    ap.add_argument("--round-to", nargs="+", type=int, default=[1])
    ap.add_argument("--batch", nargs="+", type=int, default=[1, 16])
    ap.add_argument("--prompt-7b", nargs="+", type=int, default=[512, 2048])
    ap.add_argument("--prompt-ref", nargs="+", type=int, default=[512])
    ap.add_argument("--generate", type=int, default=128)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--layers", type=int, default=4, help="decoder layers of the 7B-shaped synthetic model")
    ap.add_argument("--nsamples-7b", type=int, default=4)
    ap.add_argument("--nsamples-ref", type=int, default=16)
    ap.add_argument("--ref-model", help="folder of the real model row (default: SHARED/models/ref-llama)")
    ap.add_argument("--allocation", default="uniform", help="allocation of the synthetic 7B prune")
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--precision", default="bf16")
    ap.add_argument("--timeout", type=int, default=600, help="seconds per command")
    ap.add_argument("--bench-set", action="append", default=[],
                    help="key=value for the bench command only (e.g. runtime.cuda_graphs=false)")
    ap.add_argument("--copy-gbs", type=float, default=0,
                    help="measured device copy bandwidth in GB/s (bench_forward): adds each dense decode's share of "
                         "the HBM floor (its weights' bytes per step at that bandwidth)")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    log = os.path.join(a.out, "speed.log")
    models = {
        "llama2-7b": {"path": synthetic_7b(os.path.join(a.out, "models"), a.layers), "synthetic": True,
                      "prompt": a.prompt_7b},
        "ref-llama": {"path": os.path.abspath(a.ref_model or os.path.join(a.shared, "models", "ref-llama")),
                      "synthetic": False, "prompt": a.prompt_ref},
    }
    rows = []
    for key in a.models:
        m = models[key]
        name = key if m["synthetic"] else os.path.basename(os.path.normpath(m["path"]))
        for r in a.round_to:
            for s in a.sparsity:
                out = os.path.join(a.out, "runs", f"{name}-s{s}-r{r}")
                os.makedirs(out, exist_ok=True)
                cfg = yaml_config(a, m, out, s, r)
                t_prune = run([a.bin, cfg, "--set", f"output.dir={out}"], log, a.timeout)
                with open(os.path.join(out, "report.json")) as f:
                    rep = json.load(f)
                extra = [x for kv in a.bench_set for x in ("--set", kv)]
                t_bench = run([a.bin, "bench", cfg, "--set", f"output.dir={out}", "--set",
                               f"model.path={os.path.join(out, 'model')}", "--set", "model.synthetic=false",
                               "--baseline", m["path"], *extra], log, a.timeout)
                with open(os.path.join(out, "bench.json")) as f:
                    b = json.load(f)
                for sp, mc, bc in zip(b["speedup"], b["model"]["cases"], b["baseline"]["cases"]):
                    floor = {}
                    if a.copy_gbs > 0 and bc["decode_seconds"] > 0:
                        # Bytes one decode step must read: the decoder layers and the LM head (bf16).
                        step_bytes = b["baseline"]["layer_weight_bytes"] + b["baseline"]["lm_head_bytes"]
                        step_s = bc["decode_seconds"] / bc["generate"]
                        floor = {"dense_decode_step_s": step_s, "dense_decode_floor_s": step_bytes / (a.copy_gbs * 1e9),
                                 "dense_decode_of_floor": step_bytes / (a.copy_gbs * 1e9) / step_s}
                    rows.append({"graphs": b["model"].get("decode_cuda_graph"), **floor,"model": name, "layers": a.layers if m["synthetic"] else None, "round_to": r,
                                 "target_sparsity": s, "achieved_sparsity": rep["prune"]["achieved_sparsity"],
                                 "parameters": b["model"]["parameters"], "dense_parameters": b["baseline"]["parameters"],
                                 "pruned_prefill_tok_s": mc["prefill_tokens_per_s"],
                                 "dense_prefill_tok_s": bc["prefill_tokens_per_s"],
                                 "pruned_decode_tok_s": mc["decode_tokens_per_s"],
                                 "dense_decode_tok_s": bc["decode_tokens_per_s"],
                                 "prune_seconds": t_prune, "bench_seconds": t_bench, **sp})
                print(f"{name} s={s} round_to={r}: prune {t_prune:.0f} s, bench {t_bench:.0f} s", flush=True)
                write_tables(a, rows)
    print(write_tables(a, rows))


if __name__ == "__main__":
    main()
