#!/usr/bin/env bash
# Installs the benchmarks' peers (LiteLLM proxy, a bare Starlette/aiohttp ceiling proxy)
# into bench/.venv, apart from the project's own environment. Idempotent: a stamp file
# records what was installed, and a second run does nothing.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VENV="$HERE/.venv"
PYTHON="${PYTHON:-python3}"
# Exactly this LiteLLM version: 1.82.7 and 1.82.8 must never be installed.
PEERS=("litellm[proxy]==1.106.12" "aiohttp" "starlette" "uvicorn[standard]" "orjson")
STAMP="$VENV/.bench-peers-stamp"
WANT="${PEERS[*]}"

if ! command -v wrk >/dev/null 2>&1; then
    echo "[setup_peers] note: 'wrk' is not on PATH; the benchmarks fall back to an asyncio" \
        "load generator. 'apt-get install -y wrk' gives the better one."
fi

if [[ -f "$STAMP" && "$(cat "$STAMP")" == "$WANT" && -x "$VENV/bin/litellm" ]]; then
    echo "[setup_peers] peers already installed in $VENV"
    exit 0
fi

if [[ ! -x "$VENV/bin/python" ]]; then
    echo "[setup_peers] creating $VENV"
    "$PYTHON" -m venv "$VENV"
fi

echo "[setup_peers] upgrading pip"
"$VENV/bin/python" -m pip install --quiet --upgrade pip
echo "[setup_peers] installing: $WANT (this can take a few minutes the first time)"
"$VENV/bin/python" -m pip install --quiet "${PEERS[@]}"
"$VENV/bin/python" - <<'EOF'
from importlib.metadata import version

v = version("litellm")
if v in ("1.82.7", "1.82.8"):
    raise SystemExit(f"[setup_peers] refusing litellm {v}")
print(f"[setup_peers] litellm {v} installed")
EOF
echo "$WANT" >"$STAMP"
echo "[setup_peers] done"
