#!/usr/bin/env python3
"""SmolLM2's tokenizer pipeline end to end (ctest interop_tokenizer_smollm2): `tokenize` and `eval`
give Hugging Face's ids on a text holding bytes the vocabulary lacks.

  tokenizer_smollm2.py --bin STRUPRUNE_BIN --work DIR [--shared DIR]

The tokenizer.json is built with `tokenizers` as SmolLM2's is laid out (pre-tokenizer
Sequence[Digits(individual_digits=true), ByteLevel], GPT-2 byte-level BPE) over the shared GPT-2
vocabulary without the pieces of some control bytes (SmolLM2's lacks 0x04 among others;
tokenizer_oracle.py builds it). The model is the shared ref-opt (a GPT-2-vocabulary OPT). Checks:
  * `tokenize` writes BOS + HF's ids of the text (HF drops the bytes without a piece), and warns
    once with the count of such bytes;
  * `eval` of the text equals `eval` of HF's ids written as .npy (same mean NLL, same tokens).
Exit 77 without `tokenizers` or the shared data, unless STRUPRUNE_REQUIRE_HF=1 (then a failure).
"""
import argparse
import ast
import json
import os
import re
import struct
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tokenizer_oracle import B2U, built_files, skip  # noqa: E402


def read_npy(path):
    b = open(path, "rb").read()
    n = struct.unpack("<H", b[8:10])[0]
    h = ast.literal_eval(b[10:10 + n].decode())
    fmt = {"<u2": "H", "<i4": "i"}[h["descr"]]
    return list(struct.unpack("<%d%s" % (h["shape"][0], fmt), b[10 + n:]))


def write_npy(path, ids):
    header = "{'descr': '<i4', 'fortran_order': False, 'shape': (%d,), }" % len(ids)
    header += " " * (63 - (10 + len(header)) % 64) + "\n"
    with open(path, "wb") as f:
        f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode())
        f.write(struct.pack("<%di" % len(ids), *ids))


def run(cmd, log):
    r = subprocess.run(cmd, capture_output=True, text=True)
    with open(log, "w") as f:
        f.write(r.stdout + r.stderr)
    if r.returncode != 0:
        print(r.stdout + r.stderr)
        sys.exit(f"FAIL: {' '.join(cmd)} exited {r.returncode}")
    return r.stdout + r.stderr


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--shared", default="")
    a = ap.parse_args()
    shared = os.environ.get("STRUPRUNE_SHARED_DIR") or a.shared
    try:
        from tokenizers import Tokenizer
    except ImportError:
        skip("python lacks the `tokenizers` package")
    model = os.path.join(shared, "models/ref-opt")
    held = os.path.join(shared, "data/refcorpus/heldout-eval.txt")
    for f in (os.path.join(shared, "data/tokenizers/gpt2/encoder.json"), os.path.join(model, "config.json"), held):
        if not os.path.exists(f):
            skip(f"{f} not found")
    w = a.work
    os.makedirs(w, exist_ok=True)
    tok_path = os.path.join(w, "tokenizer.json")
    with open(tok_path, "w", encoding="utf-8") as f:
        json.dump(built_files(shared)["smollm2_missing_bytes"], f, ensure_ascii=False)
    hf = Tokenizer.from_file(tok_path)
    # Held-out text with control bytes sprinkled in (every 97th char), some beside digits.
    base = open(held, encoding="utf-8").read()[:60000]
    ctrl = "\x04\x01\x1b\x7f\x00\x07\x0e\t"
    text = "".join(c + (ctrl[i // 97 % len(ctrl)] + "4" if i % 97 == 0 else "") for i, c in enumerate(base))
    text_path = os.path.join(w, "text.txt")
    with open(text_path, "w", encoding="utf-8", newline="") as f:
        f.write(text)
    lacking = {b for b in range(256) if hf.token_to_id(B2U[b]) is None}
    missing = sum(1 for byte in text.encode("utf-8") if byte in lacking)
    bos = json.load(open(os.path.join(model, "config.json")))["bos_token_id"]
    want = [bos] + hf.encode(text, add_special_tokens=False).ids
    hf_ids = os.path.join(w, "hf_ids.npy")
    write_npy(hf_ids, want)

    cfg = os.path.join(w, "run.yaml")
    with open(cfg, "w") as f:
        f.write(f"model: {{path: {model}, tokenizer: {tok_path}}}\n"
                f"eval: {{datasets: [{{name: t, path: {text_path}, format: text}}], seqlen: 128, max_windows: 8}}\n"
                "runtime: {device: cpu, precision: fp32}\n")
    out = run([a.bin, "tokenize", cfg, "--set", f"output.dir={w}/ids", "--set", "output.overwrite=true"],
              os.path.join(w, "tokenize.log"))
    got = read_npy(os.path.join(w, "ids", "t.npy"))
    checks = [("tokenize ids == BOS + HF ids", got == want, f"{len(got)} vs {len(want)} ids")]
    m = re.findall(r"no piece for (\d+) byte\(s\) of the text", out)
    checks.append(("one warning with the count", m == [str(missing)], f"warnings {m}, bytes without a piece {missing}"))
    run([a.bin, "eval", cfg, "--set", f"output.dir={w}/eval-text", "--set", "output.overwrite=true"],
        os.path.join(w, "eval-text.log"))
    run([a.bin, "eval", cfg, "--set", f"output.dir={w}/eval-ids", "--set", "output.overwrite=true",
         f"--set=eval.datasets=[{{name: t, path: {hf_ids}}}]"], os.path.join(w, "eval-ids.log"))
    ra = json.load(open(os.path.join(w, "eval-text/report.json")))["eval"]["t"]
    rb = json.load(open(os.path.join(w, "eval-ids/report.json")))["eval"]["t"]
    checks.append(("eval of the text == eval of HF's ids",
                   (ra["mean_nll"], ra["scored_tokens"]) == (rb["mean_nll"], rb["scored_tokens"]),
                   f"{ra['mean_nll']} / {rb['mean_nll']}, {ra['scored_tokens']} / {rb['scored_tokens']} tokens"))
    bad = 0
    for name, ok, detail in checks:
        print(f"{'ok  ' if ok else 'FAIL'} {name}: {detail}")
        bad += not ok
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
