#!/usr/bin/env python3
"""End-to-end prune time and peak device memory against model size (issue 9, experiments a/b/c).

Synthetic weights of real shapes (the engine's seeded normal(0, 0.02) source, labelled "synthetic" in
every report): time and memory do not depend on the values. For each shape it writes a config,
runs `struprune-dist prune` (optionally under `mpirun -np P`), and collects report.json: per-phase
seconds, peak device memory per rank, parameter count. Then a table (markdown), JSON, and a
log-log fit of peak memory against N next to the memory of holding the whole model, with a PNG.

  python3 bench/prune_scaling.py --bin build/device/src/cli/struprune-dist --tokenizer T.json \\
      --calib heldout-calib.txt --out $OUT --shapes opt-125m llama-1b opt-1.3b llama2-7b --np 1
"""
import argparse
import datetime
import json, math, os, subprocess, sys, time

# Published shapes (config.json fields); vocabularies as published (token ids of the LLaMA-2
# tokenizer fit every one of them).
SHAPES = {
    "opt-125m": {"model_type": "opt", "hidden_size": 768, "num_hidden_layers": 12, "num_attention_heads": 12,
                 "ffn_dim": 3072, "vocab_size": 50272, "max_position_embeddings": 2048,
                 "do_layer_norm_before": True, "word_embed_proj_dim": 768, "bos_token_id": 2},
    "opt-1.3b": {"model_type": "opt", "hidden_size": 2048, "num_hidden_layers": 24, "num_attention_heads": 32,
                 "ffn_dim": 8192, "vocab_size": 50272, "max_position_embeddings": 2048,
                 "do_layer_norm_before": True, "word_embed_proj_dim": 2048, "bos_token_id": 2},
    "llama-1b": {"model_type": "llama", "hidden_size": 2048, "num_hidden_layers": 22, "num_attention_heads": 32,
                 "num_key_value_heads": 4, "intermediate_size": 5632, "vocab_size": 32000,
                 "max_position_embeddings": 2048, "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "bos_token_id": 1},
    "llama2-7b": {"model_type": "llama", "hidden_size": 4096, "num_hidden_layers": 32, "num_attention_heads": 32,
                  "num_key_value_heads": 32, "intermediate_size": 11008, "vocab_size": 32000,
                  "max_position_embeddings": 4096, "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "bos_token_id": 1},
    "llama2-13b": {"model_type": "llama", "hidden_size": 5120, "num_hidden_layers": 40, "num_attention_heads": 40,
                   "num_key_value_heads": 40, "intermediate_size": 13824, "vocab_size": 32000,
                   "max_position_embeddings": 4096, "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "bos_token_id": 1},
    "llama2-70b": {"model_type": "llama", "hidden_size": 8192, "num_hidden_layers": 80, "num_attention_heads": 64,
                   "num_key_value_heads": 8, "intermediate_size": 28672, "vocab_size": 32000,
                   "max_position_embeddings": 4096, "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "bos_token_id": 1},
}

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--tokenizer", required=True)
    ap.add_argument("--calib", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--shapes", nargs="+", default=["opt-125m", "llama-1b", "opt-1.3b", "llama2-7b"])
    ap.add_argument("--nsamples", type=int, default=128)
    ap.add_argument("--seqlen", type=int, default=2048)
    ap.add_argument("--np", type=int, default=1)
    ap.add_argument("--mpirun", default="mpirun --allow-run-as-root")
    ap.add_argument("--precision", default="bf16")
    ap.add_argument("--budget-gb", type=float, default=0)
    ap.add_argument("--sparsity", type=float, default=0.5)
    ap.add_argument("--timeout", type=int, default=600)
    ap.add_argument("--set", action="append", default=[])
    ap.add_argument("--layers", type=int, default=0,
                    help="decoder layers of every shape (0: as published); a cut model is labelled 'NAME/LAYERS'")
    ap.add_argument("--tag", default="", help="suffix of the run's files (two binaries into one --out)")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    rows = []
    for shape in a.shapes:
        name = f"{shape}-{a.layers}l" if a.layers else shape
        d = os.path.join(a.out, "models", name)
        os.makedirs(d, exist_ok=True)
        cfg = dict(SHAPES[shape], architectures=["OPTForCausalLM" if SHAPES[shape]["model_type"] == "opt"
                                                  else "LlamaForCausalLM"], torch_dtype="bfloat16")
        if a.layers:
            cfg["num_hidden_layers"] = a.layers
        json.dump(cfg, open(os.path.join(d, "config.json"), "w"), indent=1)
        y = os.path.join(a.out, f"{name}-np{a.np}{a.tag}.yaml")
        with open(y, "w") as f:
            f.write(f"""model: {{path: {d}, synthetic: true, tokenizer: {a.tokenizer}}}
calibration: {{path: {a.calib}, format: text, nsamples: {a.nsamples}, seqlen: {a.seqlen}, seed: 0}}
prune: {{sparsity: {a.sparsity}, structures: {{attention: {'heads' if cfg.get('num_key_value_heads', cfg['num_attention_heads']) == cfg['num_attention_heads'] else 'kv_groups'}}}}}
runtime: {{device: cuda, precision: {a.precision}, memory_budget_gb: {a.budget_gb}}}
output: {{dir: {a.out}/run-{name}-np{a.np}{a.tag}, checkpoint: none, overwrite: true}}
eval: {{datasets: [], before: false}}
""")
        cmd = ([*a.mpirun.split(), "-np", str(a.np)] if a.np > 1 else []) + [a.bin, "prune", y]
        for s in a.set:
            cmd += ["--set", s]
        # Start and end times of day beside the log's timestamps: the process's time before its first
        # log line and after its last (MPI, the CUDA context, teardown) is the wall time's remainder.
        print("+", " ".join(cmd), f"  # started {datetime.datetime.now():%H:%M:%S.%f}", flush=True)
        t0 = time.time()
        log = os.path.join(a.out, f"{name}-np{a.np}{a.tag}.log")
        with open(log, "w") as lf:  # written as the run goes: a run cut short still shows how far it got
            try:
                r = subprocess.run(cmd, stdout=lf, stderr=subprocess.STDOUT, timeout=a.timeout)
            except subprocess.TimeoutExpired:
                print(f"{name}: timed out after {a.timeout} s"); rows.append({"shape": name, "status": "timeout"}); break
        wall = time.time() - t0
        print(f"  # ended {datetime.datetime.now():%H:%M:%S.%f}", flush=True)
        if r.returncode != 0:
            print(open(log).read()[-3000:]); rows.append({"shape": name, "status": f"rc {r.returncode}"}); continue
        rep = json.load(open(f"{a.out}/run-{name}-np{a.np}{a.tag}/report.json"))
        row = {"shape": name, "status": "ok", "ranks": a.np, "params": rep["model"]["parameters"], "wall_s": wall,
               "seconds": rep["seconds"], "peak_bytes": rep["runtime"]["peak_memory_bytes_per_rank"],
               "model_bytes": rep["model"]["parameters"] * (2 if a.precision != "fp32" else 4),
               "achieved_sparsity": rep["prune"]["achieved_sparsity"],
               "kept": [[x["num_attention_heads"], x["num_key_value_heads"], x["intermediate_size"]]
                        for x in rep["prune"]["layers"]]}  # per layer: compare allocations across builds
        if "range_seconds" in rep:  # STRUPRUNE_RANGE_SECONDS=1: device seconds per named range
            row["range_seconds"] = rep["range_seconds"]
            print("ranges: " + ", ".join(f"{k} {v['seconds']:.3f} s / {v['count']}"
                                          for k, v in sorted(rep["range_seconds"].items())), flush=True)
        rows.append(row)
        print(f"{name}: {row['params']/1e9:.2f} B params, wall {wall:.1f} s, phases {rep['seconds']}, "
              f"peak {max(row['peak_bytes'])/2**30:.2f} GiB per rank (whole model {row['model_bytes']/2**30:.2f} GiB)",
              flush=True)
    ok = [r for r in rows if r["status"] == "ok"]
    fit = None
    if len(ok) >= 2:
        xs = [math.log(r["params"]) for r in ok]; ys = [math.log(max(r["peak_bytes"])) for r in ok]
        mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
        fit = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / max(1e-12, sum((x - mx) ** 2 for x in xs))
    lines = [f"| shape (synthetic weights) | parameters | ranks | wall s | pass 1 s | allocation s | pass 2 s | peak GiB per rank | whole model GiB |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in ok:
        s = r["seconds"]
        lines.append(f"| {r['shape']} | {r['params']:,} | {r['ranks']} | {r['wall_s']:.1f} | {s.get('pass1', 0):.1f} | "
                     f"{s.get('allocation', 0):.3f} | {s.get('pass2', 0):.1f} | {max(r['peak_bytes'])/2**30:.2f} | "
                     f"{r['model_bytes']/2**30:.2f} |")
    if fit is not None:
        lines.append(f"\nlog-log fit of peak device memory per rank against N: exponent {fit:.3f} "
                     f"(holding the whole model: 1.0; per-layer size ~ N^0.5..N^0.7 when depth and width grow together)")
    md = "\n".join(lines)
    print(md)
    open(os.path.join(a.out, f"scaling-np{a.np}{a.tag}.md"), "w").write(md + "\n")
    json.dump({"rows": rows, "fit_exponent": fit, "nsamples": a.nsamples, "seqlen": a.seqlen,
               "precision": a.precision}, open(os.path.join(a.out, f"scaling-np{a.np}{a.tag}.json"), "w"), indent=1)
    try:
        import matplotlib; matplotlib.use("Agg"); import matplotlib.pyplot as plt
        if len(ok) >= 2:
            fig, ax = plt.subplots(figsize=(6, 4))
            n = [r["params"] for r in ok]
            ax.loglog(n, [max(r["peak_bytes"]) / 2**30 for r in ok], "o-", label="struprune-dist peak per rank")
            ax.loglog(n, [r["model_bytes"] / 2**30 for r in ok], "s--", label="whole model (bf16)")
            ax.set_xlabel("parameters N"); ax.set_ylabel("GiB"); ax.grid(True, which="both", alpha=.3)
            ax.set_title(f"peak device memory, {a.nsamples} x {a.seqlen} calibration tokens"); ax.legend()
            fig.tight_layout(); fig.savefig(os.path.join(a.out, f"scaling-memory-np{a.np}{a.tag}.png"), dpi=110)
    except ImportError:
        pass
    return 0 if ok else 1

if __name__ == "__main__":
    sys.exit(main())
