#!/usr/bin/env bash
# Packs what launch/device/ranks_gpu.sh needs into .device/<name>/ (git-ignored; one device call
# carries at most 64 MiB, so one model per bundle): src.tar.xz (this commit's tree, built there),
# debs/ (launch/device/fetch_debs.sh's packages), whl/ (h5py for the masks comparison, in case the
# image lacks it) and devdata.tar.xz (the model, the held-out text, wiki.test.raw).
#   launch/device/ranks_bundle.sh ranks ref-llama && launch/device/ranks_bundle.sh ranks-opt ref-opt
# Then, in the device call (carry [".device/NAME"]):
#   R=$PWD/.device/NAME; mkdir -p build /tmp/dd
#   cmp -s $R/src.tar.xz build/ranks-src.tar.xz || { rm -rf build/ranks-src; mkdir -p build/ranks-src;
#     tar -xJf $R/src.tar.xz -C build/ranks-src && cp $R/src.tar.xz build/ranks-src.tar.xz; }
#   rm -rf /tmp/dd/devdata; tar -xJf $R/devdata.tar.xz -C /tmp/dd
#   python3 -c 'import h5py' || { python3 -m pip install -q --no-index --no-deps --target /tmp/site $R/whl/*.whl;
#     export PYTHONPATH=/tmp/site; }
#   DEBS=$R/debs DEVDATA=/tmp/dd/devdata B=$PWD/build/ranks-device STEP=all bash build/ranks-src/launch/device/ranks_gpu.sh
# (STEP=more for the second model on the warm machine: the build is kept.)
set -euo pipefail
cd "$(dirname "$0")/../.."
name=$1 model=$2
shared="${STRUPRUNE_SHARED_DIR:-../shared}"
d=.device/$name
rm -rf "$d" && mkdir -p "$d/whl" "$d/stage/devdata/models" "$d/stage/devdata/data/refcorpus" "$d/stage/devdata/data/wikitext-2-raw"
git archive --format=tar HEAD | xz -6 -T2 >"$d/src.tar.xz"
(mkdir -p "$d/debs" && cd "$d/debs" && apt-get download -q libpcre2-dev libfmt-dev libfmt9 libspdlog-dev libspdlog1.10 \
  libyaml-cpp-dev libyaml-cpp0.7 nlohmann-json3-dev libeigen3-dev libgtest-dev libboost-program-options1.74.0 2>&1 |
  grep -v "^W: Download is performed unsandboxed" || true)
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_17_x86_64 -d "$d/whl" h5py==3.14.0
cp -r "$shared/models/$model" "$d/stage/devdata/models/"
cp "$shared"/data/refcorpus/heldout-*.txt "$d/stage/devdata/data/refcorpus/"
cp "$shared/data/wikitext-2-raw/wiki.test.raw" "$d/stage/devdata/data/wikitext-2-raw/"
tar -cf - -C "$d/stage" devdata | xz -6 -T2 >"$d/devdata.tar.xz"
rm -rf "$d/stage"
du -sh "$d"
