#!/usr/bin/env bash
# `tokenize` end to end on ref-llama (LLaMA-2 tokenizer): WikiText-2 test and the held-out text
# give the token counts reference.json records (BOS included); eval of the written ids equals eval
# of the text (same perplexity to the last digit); ids-only eval runs with no tokenizer in the model
# folder; calibration.npy is the calibration stream (BOS first). Exit 77 without the shared data.
#   tokenize_roundtrip.sh STRUPRUNE_BIN      (env: SP_WORK, STRUPRUNE_SHARED_DIR[_DEFAULT])
set -euo pipefail
bin=$1
shared="${STRUPRUNE_SHARED_DIR:-$STRUPRUNE_SHARED_DIR_DEFAULT}"
M=$shared/models/ref-llama
wiki=$shared/data/wikitext-2-raw/wiki.test.raw
held=$shared/data/refcorpus/heldout-eval.txt
calib=$shared/data/refcorpus/heldout-calib.txt
for f in "$M/reference.json" "$wiki" "$held" "$calib"; do
  [ -e "$f" ] || { echo "SKIP: $f not found"; exit 77; }
done
w="$SP_WORK/tokenize-roundtrip"
rm -rf "$w" && mkdir -p "$w"
common=(--set eval.seqlen=256 --set eval.max_windows=2 --set runtime.device=cpu --set runtime.precision=fp32)
printf "model: {path: %s}\ncalibration: {path: %s, format: text}\n" "$M" "$calib" >"$w/text.yaml"
printf "eval: {datasets: [{name: wikitext2, path: %s, format: wikitext}, {name: heldout, path: %s, format: text}]}\n" \
  "$wiki" "$held" >>"$w/text.yaml"
"$bin" tokenize "$w/text.yaml" --set output.dir="$w/ids" | tee "$w/tokenize.log"
ls "$w/ids"
"$bin" eval "$w/text.yaml" --set output.dir="$w/eval-text" "${common[@]}"
# The ids, in a model folder without any tokenizer (ids need none).
mkdir -p "$w/model"
for f in "$M"/*.safetensors "$M"/*.json; do ln -sf "$f" "$w/model/"; done
rm -f "$w/model/tokenizer.json"
printf "model: {path: %s}\neval: {datasets: [{name: wikitext2, path: %s}, {name: heldout, path: %s}]}\n" \
  "$w/model" "$w/ids/wikitext2.npy" "$w/ids/heldout.npy" >"$w/ids.yaml"
"$bin" eval "$w/ids.yaml" --set output.dir="$w/eval-ids" "${common[@]}"
python3 - "$M/reference.json" "$w" <<'PY'
import ast, json, struct, sys
ref, w = json.load(open(sys.argv[1])), sys.argv[2]

def npy(path):
    b = open(path, "rb").read()
    n = struct.unpack("<H", b[8:10])[0]
    h = ast.literal_eval(b[10:10 + n].decode())
    size = {"<u2": 2, "<i4": 4}[h["descr"]]
    data = b[10 + n:]
    assert len(data) == h["shape"][0] * size, path
    fmt = {"<u2": "H", "<i4": "i"}[h["descr"]]
    return list(struct.unpack("<%d%s" % (h["shape"][0], fmt), data))

wiki, held, cal = npy(f"{w}/ids/wikitext2.npy"), npy(f"{w}/ids/heldout.npy"), npy(f"{w}/ids/calibration.npy")
checks = [
    ("wikitext2 tokens", len(wiki), ref["wikitext2_test_tokens"]),
    ("wikitext2 first ids", wiki[:len(ref["wikitext2_first_ids"])], ref["wikitext2_first_ids"]),
    ("heldout tokens", len(held), ref["heldout_eval_tokens"]),
    ("calibration BOS", cal[0], ref["bos_token_id"]),
]
a = json.load(open(f"{w}/eval-text/report.json"))["eval"]
b = json.load(open(f"{w}/eval-ids/report.json"))["eval"]
for name in ("wikitext2", "heldout"):
    checks.append((f"{name} eval of ids == eval of text", b[name]["mean_nll"], a[name]["mean_nll"]))
    checks.append((f"{name} scored tokens", b[name]["scored_tokens"], a[name]["scored_tokens"]))
bad = [c for c in checks if c[1] != c[2]]
for c in checks:
    print(("ok  " if c[1] == c[2] else "FAIL"), c[0], str(c[1])[:60], "" if c[1] == c[2] else f"!= {str(c[2])[:60]}")
print("calibration tokens", len(cal), "; ppl text", a["wikitext2"]["perplexity"], "ids", b["wikitext2"]["perplexity"])
sys.exit(1 if bad else 0)
PY
echo "tokenize round trip: ok"
