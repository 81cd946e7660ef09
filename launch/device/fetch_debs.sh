#!/usr/bin/env bash
# Downloads (here, on the Debian 12 development machine) the -dev packages that the GPU machine's
# image lacks into .debs/ (git-ignored); launch/device/ci_gpu.sh unpacks the ones it needs there.
# Name `.debs` in the device call's carry list.
set -euo pipefail
cd "$(dirname "$0")/../.."
mkdir -p .debs && cd .debs
apt-get update -qq
apt-get download -q libpcre2-dev libfmt-dev libfmt9 libspdlog-dev libspdlog1.10 libyaml-cpp-dev \
  libyaml-cpp0.7 nlohmann-json3-dev libeigen3-dev libgtest-dev libboost-program-options1.74.0 2>&1 |
  grep -v "^W: Download is performed unsandboxed" || true
ls -1
