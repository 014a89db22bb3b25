"""The servers that gateway_overhead loads: how each is configured, started and awaited.

`direct` is the fake upstream itself; `ours` is `uait serve`; `ceiling` is
bench/ceiling_proxy.py under bench/.venv's uvicorn; `litellm` is the LiteLLM proxy from
bench/.venv. Every one is a single process on 127.0.0.1, stopped when its context ends.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from common import (
    API_KEY,
    BENCH_DIR,
    PEERS_BIN,
    child,
    free_port,
    start_ours,
    tail,
    wait_ready,
)

UAIT_TOML = """[embedded]
enabled = false
[[backends]]
name = "fake"
kind = "openai"
url = "http://127.0.0.1:{up}/v1"
[[models]]
name = "bench-model"
backend = "fake"
target = "fake-model"
"""
LITELLM_YAML = """model_list:
  - model_name: bench-model
    litellm_params:
      model: openai/fake-model
      api_base: http://127.0.0.1:{up}/v1
      api_key: x
litellm_settings:
  telemetry: false
  set_verbose: false
  turn_off_message_logging: true
general_settings:
  master_key: {key}
  dangerously_permit_weak_or_unset_master_key: true
  disable_spend_logs: true
  disable_error_logs: true
"""


@contextlib.contextmanager
def start_target(name: str, up: int, tmp: Path) -> Iterator[tuple[int, str]]:
    """Starts the target's server (none for `direct`), waits for it, yields (port, token)."""
    if name == "direct":
        yield up, API_KEY
        return
    if name == "ours":
        with start_ours(tmp, UAIT_TOML.format(up=up), timeout=60.0) as (port, key):
            yield port, key
        return
    port, logs = free_port(), tmp / "logs"
    if name == "ceiling":
        env = {"UPSTREAM_URL": f"http://127.0.0.1:{up}/v1"}
        argv = [str(PEERS_BIN / "uvicorn"), "ceiling_proxy:app", "--app-dir", str(BENCH_DIR)]
        argv += ["--loop", "uvloop", "--http", "httptools", "--no-access-log"]
        argv += ["--log-level", "warning", "--host", "127.0.0.1", "--port", str(port)]
        ready, wait = "/health", 60.0
    else:
        (tmp / "litellm.yaml").write_text(LITELLM_YAML.format(up=up, key=API_KEY))
        env = {
            "LITELLM_LOCAL_MODEL_COST_MAP": "True",  # no fetch of the cost map at start
            "LITELLM_LOG": "ERROR",  # also silences uvicorn's access log
            "LITELLM_TELEMETRY": "False",
            "DISABLE_ADMIN_UI": "True",
            "NO_DOCS": "True",
            "NO_REDOC": "True",
        }
        argv = [str(PEERS_BIN / "litellm"), "--config", str(tmp / "litellm.yaml")]
        argv += ["--host", "127.0.0.1", "--port", str(port), "--num_workers", "1"]
        ready, wait = "/health/liveliness", 180.0
    if not Path(argv[0]).exists():
        raise RuntimeError(f"{argv[0]} is missing (bench/setup_peers.sh installs it)")
    with child(name, argv, logs, env=env, cwd=tmp) as proc:
        try:
            wait_ready(port, ready, proc, timeout=wait)
        except RuntimeError as exc:
            raise RuntimeError(f"{exc}\n{tail(logs / f'{name}.log')}") from exc
        yield port, API_KEY
