#!/usr/bin/env bash
# Packs what launch/device/carried.sh needs into .devrun/pack.tar.xz (git-ignored; at most ~60 MB
# so that a device call can carry it): the named binaries of a CUDA build made here, the Debian
# runtime libraries the GPU image lacks, and shared models / data (one model: a call carries 64 MiB).
#   launch/device/pack.sh BUILD_DIR MODEL [target-path...]
#   e.g. launch/device/pack.sh build/cuda ref-llama src/cli/struprune-dist tests/prune/test_prune
# MODEL `-`: no model (synthetic-weights runs take a tokenizer through PACK_EXTRA). A target given as
# FILE=NAME packs FILE (any path) as bin/NAME, e.g. a baseline binary beside the new one.
# PACK_EXTRA: more shared files to take, relative to the shared folder (e.g. another model's
# tokenizer.json for a synthetic-weights run), space-separated.
set -euo pipefail
cd "$(dirname "$0")/../.."
build=$1 model=$2
shift 2
shared="${STRUPRUNE_SHARED_DIR:-../shared}"
stage=.devrun/stage
rm -rf "$stage" && mkdir -p "$stage/bin" "$stage/lib" "$stage/devdata/models" "$stage/devdata/data/refcorpus"
for t in "$@"; do
  if [[ "$t" == *=* ]]; then cp "${t%%=*}" "$stage/bin/${t#*=}"; else cp "$build/$t" "$stage/bin/"; fi
done
for l in libboost_program_options.so.1.74.0 libyaml-cpp.so.0.7 libspdlog.so.1.10 libfmt.so.9 libhdf5_serial.so.103 \
  libsz.so.2 libaec.so.0; do
  cp -L "/lib/x86_64-linux-gnu/$l" "$stage/lib/"
done
if [ "$model" != - ]; then
  cp -r "$shared/models/$model" "$stage/devdata/models/"
  rm -f "$stage/devdata/models/$model/reference.json"
fi
cp "$shared"/data/refcorpus/heldout-*.txt "$stage/devdata/data/refcorpus/"
for f in ${PACK_EXTRA:-}; do mkdir -p "$stage/devdata/$(dirname "$f")" && cp "$shared/$f" "$stage/devdata/$f"; done
tar -cf - -C "$stage" . | xz "${XZ_LEVEL:--9}" -T2 >.devrun/pack.tar.xz
ls -la .devrun/pack.tar.xz
rm -rf "$stage"  # only the archive travels (a device call carries at most 64 MiB)
