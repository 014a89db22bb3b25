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
    PROJECT_BIN,
    child,
    free_port,
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
def start_target(name: str, up: int, tmp: Path) -> Iterator[int]:
    """Starts the target's server (none for `direct`), waits for it, yields its port."""
    if name == "direct":
        yield up
        return
    port, logs, env = free_port(), tmp / "logs", {}
    if name == "ours":
        (tmp / "uait.toml").write_text(UAIT_TOML.format(up=up))
        env = {
            "UAIT_CONFIG": str(tmp / "uait.toml"),
            "UAIT_DATA_DIR": str(tmp / "data"),
            "UAIT_API_KEY": API_KEY,
            "UAIT_LOG_LEVEL": "warning",
        }
        argv = [str(PROJECT_BIN / "uait"), "serve", "--host", "127.0.0.1", "--port", str(port)]
        ready, wait = "/health", 60.0
    elif name == "ceiling":
        env = {"UPSTREAM_URL": f"http://127.0.0.1:{up}/v1"}
        argv = [
            str(PEERS_BIN / "uvicorn"),
            "ceiling_proxy:app",
            "--app-dir",
            str(BENCH_DIR),
            "--loop",
            "uvloop",
            "--http",
            "httptools",
            "--no-access-log",
            "--log-level",
            "warning",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ]
        ready, wait = "/health", 60.0
    else:
        (tmp / "litellm.yaml").write_text(LITELLM_YAML.format(up=up, key=API_KEY))
        env = {
            "LITELLM_LOCAL_MODEL_COST_MAP": "True",
            "LITELLM_LOG": "ERROR",
            "LITELLM_TELEMETRY": "False",
            "DISABLE_ADMIN_UI": "True",
            "NO_DOCS": "True",
            "NO_REDOC": "True",
        }
        argv = [
            str(PEERS_BIN / "litellm"),
            "--config",
            str(tmp / "litellm.yaml"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--num_workers",
            "1",
        ]
        ready, wait = "/health/liveliness", 180.0
    if not Path(argv[0]).exists():
        raise RuntimeError(f"{argv[0]} is missing")
    with child(name, argv, logs, env=env, cwd=tmp) as proc:
        try:
            wait_ready(port, ready, proc, timeout=wait)
        except RuntimeError as exc:
            raise RuntimeError(f"{exc}\n{tail(logs / f'{name}.log')}") from exc
        yield port
