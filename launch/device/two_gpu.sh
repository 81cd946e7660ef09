#!/usr/bin/env bash
# Issue 9's 2-GPU checks in one call (through carried.sh after pack.sh with struprune-dist-new and
# tests/dist/test_nccl, model ref-llama): the NCCL communicator test on 2 ranks; ref-llama (bf16)
# pruned with mpirun -np 1 and -np 2 (NCCL), masks.h5 datasets and perplexity compared; then the
# LLaMA-2-7B-shaped prune (synthetic, 32 layers, 128 x 2048 tokens) on 1 and on 2 GPUs for the speedup.
# -> $OUT/two_gpu.txt, $OUT/scaling-np{1,2}.json
set -uo pipefail
cd "$(dirname "$0")/../.."
MPI="mpirun --allow-run-as-root -np"
{
  nvidia-smi -L
  timeout 120 $MPI 2 "$BIN/test_nccl" --gtest_brief=1 2>&1 | tail -4
  echo "test_nccl np2 rc=${PIPESTATUS[0]}"
  M=$STRUPRUNE_SHARED_DIR/models/ref-llama R=$STRUPRUNE_SHARED_DIR/data/refcorpus
  for n in 1 2; do
    timeout 150 $MPI $n "$BIN/struprune-dist-new" prune configs/ref-llama.yaml --set model.path="$M" \
      --set calibration.path="$R/heldout-calib.txt" --set calibration.nsamples=32 --set calibration.batch=4 \
      --set runtime.device=cuda --set runtime.precision=bf16 --set output.dir=/tmp/np$n --set output.checkpoint=none \
      --set "eval.datasets=[{name: heldout, path: $R/heldout-eval.txt, format: text}]" --set eval.max_windows=8 \
      >/tmp/np$n.log 2>&1
    echo "ref-llama np$n rc=$?"; tail -2 /tmp/np$n.log
  done
  python3 - <<'PY'
import json
for n in (1, 2):
    r = json.load(open(f"/tmp/np{n}/report.json"))
    print(f"np{n} ranks {r['runtime']['ranks']} device {r['runtime']['device']} ppl after "
          f"{r['perplexity_after']['heldout']['perplexity']!r} seconds {r['seconds']['total']:.2f}")
PY
  python3 launch/device/compare_masks.py /tmp/np1/masks.h5 /tmp/np2/masks.h5 "np1 vs np2"
  for n in 1 2; do h5dump -d / /tmp/np$n/masks.h5 >/dev/null 2>&1; h5dump /tmp/np$n/masks.h5 2>/dev/null | grep -v -i "config\|model_identity\|time\|seconds" >/tmp/dump$n.txt; done
  cmp -s /tmp/dump1.txt /tmp/dump2.txt; echo "h5dump np1 vs np2 (config, identity, times left out) equal: rc $?"
} 2>&1 | tee "$OUT/two_gpu.txt"
TOK=$STRUPRUNE_SHARED_DIR/models/ref-llama/tokenizer.json CAL=$STRUPRUNE_SHARED_DIR/data/refcorpus/heldout-calib.txt
for n in 2 1; do
  timeout 150 python3 bench/prune_scaling.py --bin "$BIN/struprune-dist-new" --tokenizer "$TOK" --calib "$CAL" \
    --out /tmp/sc$n --shapes llama2-7b --layers 32 --nsamples 128 --seqlen 2048 --np $n \
    --mpirun "mpirun --allow-run-as-root" --timeout 140 >>"$OUT/two_gpu.txt" 2>&1
  echo "7B np$n rc=$?"; cp /tmp/sc$n/scaling-np$n*.json "$OUT/scaling-np$n.json" 2>/dev/null
  grep -E "^llama2-7b" "$OUT/two_gpu.txt" | tail -1 | cut -c1-200
done
