#!/usr/bin/env bash
# Installs the pinned llama-cpp-python (llama.cpp built from its PyPI source distribution, CPU only,
# no extras) unless that version is already there. pip caches the built wheel (~/.cache/pip), so a
# second install (a fresh environment) takes about 25 s; the first build took 1237 s (20 minutes)
# on 2 busy cores. Used by launch/test.sh and tests/interop/gguf_llama_cpp.sh.
#   install_llama_cpp.sh [PYTHON]
set -uo pipefail
py=${1:-python3}
version=0.3.36
if "$py" -c "import llama_cpp, sys; sys.exit(llama_cpp.__version__ != '$version')" 2>/dev/null; then exit 0; fi
export CMAKE_ARGS="-DLLAVA_BUILD=OFF -DGGML_NATIVE=OFF -DGGML_OPENMP=OFF -DLLAMA_CURL=OFF -DLLAMA_BUILD_TESTS=OFF \
-DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TOOLS=OFF -DLLAMA_BUILD_SERVER=OFF -DGGML_BLAS=OFF -DGGML_CUDA=OFF"
export MAKEFLAGS=-j2 CMAKE_BUILD_PARALLEL_LEVEL=2
"$py" -m pip install -q --disable-pip-version-check --root-user-action=ignore "llama-cpp-python==$version"
