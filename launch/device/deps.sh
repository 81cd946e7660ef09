# shellcheck shell=bash
# Sourced by the device scripts (ci_gpu.sh, ranks_gpu.sh): the image lacks some -dev packages. Each
# missing one is unpacked from the Debian 12 .deb carried in $DEBS (default .debs/, made here by
# launch/device/fetch_debs.sh) into /tmp/deps, found through CMAKE_PREFIX_PATH. Sets EXTRA (the
# CMake arguments that point at them) and LD_LIBRARY_PATH; needs a `say` function.
DEPS=/tmp/deps
DEBS="${DEBS:-.debs}"
EXTRA=()
carried() {  # probe-file deb-globs...: unpack the debs when probe-file is absent
  local probe=$1
  shift
  [ -e "$probe" ] && return 0
  for d in "$@"; do dpkg -x "$DEBS"/$d $DEPS || say "cannot unpack $d"; done
  say "using carried $* (no $probe)"
}
carried /usr/include/fmt/core.h "libfmt-dev_*.deb" "libfmt9_*.deb"
carried /usr/include/spdlog/spdlog.h "libspdlog-dev_*.deb" "libspdlog1.10_*.deb"
carried /usr/include/yaml-cpp/yaml.h "libyaml-cpp-dev_*.deb" "libyaml-cpp0.7_*.deb"
carried /usr/include/nlohmann/json.hpp "nlohmann-json3-dev_*.deb"
carried /usr/include/eigen3/Eigen/Core "libeigen3-dev_*.deb"
carried /usr/include/gtest/gtest.h "libgtest-dev_*.deb"
carried /usr/include/pcre2.h "libpcre2-dev_*.deb"
ls /usr/lib/x86_64-linux-gnu/libboost_program_options.so.1.* >/dev/null 2>&1 ||
  carried /nonexistent "libboost-program-options1.74.0_*.deb"
if [ -d $DEPS/usr/lib/x86_64-linux-gnu ]; then
  ln -sf /usr/lib/x86_64-linux-gnu/libpcre2-8.so.0 $DEPS/usr/lib/x86_64-linux-gnu/libpcre2-8.so
  export LD_LIBRARY_PATH="$DEPS/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
fi
[ -d $DEPS/usr ] && EXTRA+=(-DCMAKE_PREFIX_PATH=$DEPS/usr -DPCRE2_ROOT=$DEPS/usr)
# Boost.Program_options' CMake package is missing (the headers are there): a stub package.
ls /usr/lib/x86_64-linux-gnu/cmake/boost_program_options-* >/dev/null 2>&1 ||
  EXTRA+=(-Dboost_program_options_DIR=$PWD/launch/device/cmake)
