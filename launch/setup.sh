#!/usr/bin/env bash
# Installs the Debian 12 packages struprune-dist needs (idempotent, quiet, as root), then
# configures (once: an existing tree is reused, ninja re-runs CMake itself when a CMakeLists
# changes) and builds with a CMake preset.
#   usage: launch/setup.sh [PRESET [TARGET...]]   (default preset: default; default: all targets)
# Each configure and build is logged in build/<preset>/setup.log (launch/check_single_build.sh reads it).
set -euo pipefail
cd "$(dirname "$0")/.."
preset="${1:-default}"
shift || true

pkgs=(build-essential cmake ninja-build ccache pkg-config git
      libopenmpi-dev openmpi-bin libhdf5-dev hdf5-tools libboost-program-options-dev
      libfmt-dev libspdlog-dev libyaml-cpp-dev nlohmann-json3-dev libgtest-dev libeigen3-dev libpcre2-dev)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

dir="build/$preset"
jobs="${STRUPRUNE_JOBS:-$(nproc)}"
if [ ! -f "$dir/build.ninja" ]; then
  echo "setup: configuring $dir (preset $preset)"
  cmake --preset "$preset" >/dev/null
  echo "configure $(date -u +%FT%TZ)" >>"$dir/setup.log"
fi
echo "build ${*:-all} $(date -u +%FT%TZ)" >>"$dir/setup.log"
if [ $# -gt 0 ]; then
  cmake --build --preset "$preset" -j "$jobs" --target "$@"
else
  cmake --build --preset "$preset" -j "$jobs"
fi
