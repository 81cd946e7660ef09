#!/usr/bin/env bash
# Issue 24: when every data file of a run is pre-tokenized ids, a tokenizer that cannot be read is
# not needed and does not stop `eval` or `prune` (a warning names it); with text data it still does.
# On the embedded stories260K: `tokenize` writes the ids with its good tokenizer, then a copy of the
# model whose tokenizer.json is unreadable evaluates the ids at the perplexity of the text and prunes.
#   tokenizer_ids_only.sh STRUPRUNE_BIN      (env: SP_WORK, SP_REPO)
set -euo pipefail
bin=$1
w="$SP_WORK/tokenizer-ids-only"
rm -rf "$w" && mkdir -p "$w/model"
qs="$SP_REPO/configs/quickstart.yaml"
"$bin" tokenize "$qs" --set output.dir="$w/ids"
"$bin" eval "$qs" --set output.dir="$w/eval-text"
for f in "$SP_REPO"/examples/stories260K/*; do ln -s "$f" "$w/model/"; done
# A tokenizer.json takes precedence over vocab.json; this one is of a model type we do not read.
echo '{"model": {"type": "WordPiece", "vocab": {}}}' >"$w/model/tokenizer.json"
ids=(--set model.path="$w/model" --set calibration.path="$w/ids/calibration.npy" --set calibration.format=ids
     "--set=eval.datasets=[{name: heldout, path: $w/ids/heldout.npy}]")
"$bin" eval "$qs" "${ids[@]}" --set output.dir="$w/eval-ids" 2>&1 | tee "$w/eval-ids.log"
grep -qE "tokenizer.json: model type 'WordPiece' is not supported.*not needed: every configured data file is pre-tokenized ids" \
  "$w/eval-ids.log" || { echo "FAIL: no warning naming the unreadable tokenizer"; exit 1; }
"$bin" prune "$qs" "${ids[@]}" --set output.dir="$w/prune-ids" 2>&1 | tee "$w/prune-ids.log"
grep -q "ppl after" "$w/prune-ids.log" || { echo "FAIL: prune on ids did not finish"; exit 1; }
# Text data needs the tokenizer: the same copy refuses it, naming the file.
set +e
"$bin" eval "$qs" --set model.path="$w/model" --set output.dir="$w/eval-text-broken" >"$w/broken.log" 2>&1
rc=$?
set -e
cat "$w/broken.log"
[ "$rc" = 2 ] && grep -q "model/tokenizer.json: model type 'WordPiece' is not supported" "$w/broken.log" ||
  { echo "FAIL: eval of text with an unreadable tokenizer gave exit $rc"; exit 1; }
python3 - "$w" <<'PY'
import json, sys
w = sys.argv[1]
a = json.load(open(f"{w}/eval-text/report.json"))["eval"]["heldout"]
b = json.load(open(f"{w}/eval-ids/report.json"))["eval"]["heldout"]
print("text:", a["mean_nll"], a["scored_tokens"], " ids:", b["mean_nll"], b["scored_tokens"])
sys.exit(0 if (a["mean_nll"], a["scored_tokens"]) == (b["mean_nll"], b["scored_tokens"]) else 1)
PY
echo "OK"
