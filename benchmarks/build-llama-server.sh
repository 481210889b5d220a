#!/usr/bin/env bash
# Builds llama.cpp's llama-server from the sdist of the llama-cpp-python installed in the venv, so the
# comparison in benchmarks/clients.py runs the same llama.cpp we decode with. A benchmark tool only:
# never a dependency, never committed. Prints the binary's path on its last line.
#
#   benchmarks/build-llama-server.sh [OUT_DIR]     (default: /tmp/llama-server-build)
#   LLAMA_SERVER=$(benchmarks/build-llama-server.sh | tail -1) .venv/bin/python benchmarks/clients.py
#
# The machine is shared: it builds at nice 19 with JOBS (default 2) compile jobs (~20 min at -j1 on
# 2 cores). A second call reuses the finished build.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
python=${PYTHON:-$here/.venv/bin/python}
[ -x "$python" ] || python=/work/main/.venv/bin/python
out=${1:-/tmp/llama-server-build}
jobs=${JOBS:-2}
# The installed version; while the venv is still installing, the pin in pyproject.toml.
version=$("$python" -c 'import importlib.metadata as m; print(m.version("llama-cpp-python"))' 2>/dev/null \
  || sed -n 's/.*"llama-cpp-python==\([^"]*\)".*/\1/p' "$here/pyproject.toml")
src=$out/llama_cpp_python-$version
binary=$src/vendor/llama.cpp/build/bin/llama-server
if [ -x "$binary" ]; then echo "$binary"; exit 0; fi
mkdir -p "$out"
if [ ! -d "$src" ]; then
  "$python" -m pip download --no-binary :all: --no-deps --dest "$out" "llama-cpp-python==$version" >&2
  tar -xzf "$out/llama_cpp_python-$version.tar.gz" -C "$out"
fi
cd "$src/vendor/llama.cpp"
# The same CPU flags a default llama-cpp-python build gets (native AVX2/FMA, OpenMP); no curl, no tests.
nice -n 19 cmake -B build -DCMAKE_BUILD_TYPE=Release -DLLAMA_CURL=OFF -DLLAMA_BUILD_TESTS=OFF \
  -DLLAMA_BUILD_EXAMPLES=OFF -DBUILD_SHARED_LIBS=OFF >&2
nice -n 19 cmake --build build --target llama-server -j "$jobs" >&2
echo "$binary"
