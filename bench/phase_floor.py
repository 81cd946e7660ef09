#!/usr/bin/env python3
"""Per-phase times of a prune against their physical floor (issue 9, scaling experiment (b)).

The floor of a phase is its arithmetic at a MEASURED rate (bf16 tensor-core GEMMs for the forwards and the
Gram products, F64 for the OBS inverses and the refits) plus reading the layer's weights once at the
measured copy bandwidth; what no formula bounds (the greedy's data-dependent updates, the outputs' disk
writes) is left without one. The FLOP counts follow what the pipeline computes (docs/algorithm.md), for a
LLaMA-family config and a uniform sparsity s (the real allocation differs per layer; at 50% the totals are
the same to first order):

  layer forward, T tokens of windows of S: 2 T (4 h^2 + 3 h f) + 2 T S h (causal attention, QK^T and PV)
  Gram of a width-n tap over T tokens: T n^2 (its upper triangle: the product is symmetric)
  OBS inverse of a width-n Gram: n^3 (Cholesky n^3/3 + inverse 2n^3/3), both modules, both passes
  refit of a consumer to k kept columns: k^3/3 + 2 h k^2 (Cholesky and two triangular solves)
  pass 2's forwards: the attention's statistics (dense q/k/v + attention), the pruned attention once,
    the MLP's statistics (dense gate/up), the pruned MLP once: 2 T (3 h^2 + (1-s)(4 h^2) + 2 h f + 3 (1-s) h f)
    + 2 T S h (1 + (1-s))
  KL probes: every block's copy runs from its layer to the last on P windows: L (L + 1) layer forwards of
    P S tokens, plus the dense probe's L

  python3 bench/phase_floor.py --phases docs/results/prune-7b-32layers-h100.json \\
      --config bench/configs/llama2-7b.json --windows 128 --seqlen 2048 --probe-windows 2 \\
      --bf16-tflops 765 --f64-tflops 50.2 --copy-gbs 4145 --json floor.json
"""
import argparse
import json


def floors(c, T, S, P, s, r16, r64, bw):
    h, f, L, V = c["hidden_size"], c["intermediate_size"], c["num_hidden_layers"], c["vocab_size"]
    nkv = c.get("num_key_value_heads", c["num_attention_heads"])
    hd = h // c["num_attention_heads"]
    kv = nkv * hd
    layer_params = 2 * h * h + 2 * h * kv + 3 * h * f
    fwd = lambda tokens: (2 * tokens * layer_params + 2 * tokens * S * h) / r16
    gram = lambda n: T * n * n / r16
    k_a, k_m = (1 - s) * h, (1 - s) * f
    read = 2 * layer_params / bw  # bf16 weights, once
    pass2_fwd = (2 * T * ((h * h + 2 * h * kv) + (1 - s) * (h * h + 2 * h * kv) + (1 - s) * h * h
                          + 2 * h * f + 3 * (1 - s) * h * f) + 2 * T * S * h * (2 - s)) / r16
    return {
        "pass1.load": L * read,
        "pass1.forward": L * fwd(T),
        "pass1.statistics": L * (gram(h) + gram(f)),
        "pass1.kl_probes": (L * (L + 1) + L) * fwd(P * S),
        "pass1.kl_logits": (2 * L + 1) * 2 * P * S * h * V / r16,
        "pass1.obs_attention_inverse": L * h ** 3 / r64,
        "pass1.obs_mlp_inverse": L * f ** 3 / r64,
        "pass2.load": L * read,
        "pass2.forward": L * pass2_fwd,
        "pass2.statistics": L * (gram(h) + gram(f)),
        "pass2.obs_attention_inverse": L * h ** 3 / r64,
        "pass2.obs_mlp_inverse": L * f ** 3 / r64,
        "pass2.refit": L * (k_a ** 3 / 3 + 2 * h * k_a ** 2 + k_m ** 3 / 3 + 2 * h * k_m ** 2) / r64,
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--phases", required=True, help="profile_prune.sh's phases.json or prune_scaling.py's JSON")
    ap.add_argument("--config", required=True, help="the model's config.json (LLaMA family)")
    ap.add_argument("--windows", type=int, default=128)
    ap.add_argument("--seqlen", type=int, default=2048)
    ap.add_argument("--probe-windows", type=int, default=2)
    ap.add_argument("--sparsity", type=float, default=0.5)
    ap.add_argument("--bf16-tflops", type=float, required=True, help="measured bf16 GEMM rate (bench_forward)")
    ap.add_argument("--f64-tflops", type=float, required=True, help="measured F64 rate (bench_linalg)")
    ap.add_argument("--copy-gbs", type=float, required=True, help="measured device copy bandwidth (bench_forward)")
    ap.add_argument("--json")
    a = ap.parse_args()
    d = json.load(open(a.phases))
    row = d["rows"][0] if "rows" in d else next(iter(d.values()))
    sec = row["seconds"]
    fl = floors(json.load(open(a.config)), a.windows * a.seqlen, a.seqlen, a.probe_windows, a.sparsity,
                a.bf16_tflops * 1e12, a.f64_tflops * 1e12, a.copy_gbs * 1e9)
    rows = []
    for k in sorted(k for k in sec if "." in k and k not in ("pass1.curves", "pass2.scores")):
        t, f = sec[k], fl.get(k)
        rows.append({"phase": k, "seconds": t, "floor_s": f, "share": f / t if f and t > 0 else None})
    total_floor = sum(fl.values())
    print("| phase | seconds | floor s | floor / seconds |")
    print("|---|---:|---:|---:|")
    for r in rows:
        f = "-" if r["floor_s"] is None else f"{r['floor_s']:.3f}"
        sh = "-" if r["share"] is None else f"{100 * r['share']:.0f}%"
        print(f"| {r['phase']} | {r['seconds']:.3f} | {f} | {sh} |")
    print(f"| pipeline (`seconds.total`) | {sec['total']:.2f} | {total_floor:.2f} | "
          f"{100 * total_floor / sec['total']:.0f}% |")
    if a.json:
        json.dump({"rows": rows, "floor_total_s": total_floor, "total_s": sec["total"], "args": vars(a)},
                  open(a.json, "w"), indent=1)


if __name__ == "__main__":
    main()
