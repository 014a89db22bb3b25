"""Shared helpers of the benchmarks: paths, ports, child processes, HTTP waits, results."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import http.client
import json
import os
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Coroutine, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

BENCH_DIR = Path(__file__).resolve().parent
REPO_DIR = BENCH_DIR.parent
RESULTS_DIR = BENCH_DIR / "results"
PEERS_VENV = BENCH_DIR / ".venv"
PEERS_BIN = PEERS_VENV / "bin"
PROJECT_BIN = REPO_DIR / ".venv" / "bin"
PROJECT_PY = PROJECT_BIN / "python" if (PROJECT_BIN / "python").exists() else Path(sys.executable)
# The bearer token sent to every target but ours (LiteLLM's master key; ignored elsewhere).
API_KEY = "bench-key"
OURS_ADMIN = "bench@example.com"


def env_float(name: str, default: float) -> float:
    value = os.environ.get(name, "").strip()
    return float(value) if value else default


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    return int(value) if value else default


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    """asyncio.run on uvloop when it is installed."""
    factory: Callable[[], asyncio.AbstractEventLoop] | None = None
    with contextlib.suppress(ImportError):
        import uvloop

        factory = uvloop.new_event_loop
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(coro)


def log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


@functools.cache
def ensure_peers() -> bool:
    """Runs setup_peers.sh (idempotent, once per process); True when it succeeded."""
    script = BENCH_DIR / "setup_peers.sh"
    proc = subprocess.run(["bash", str(script)], stdout=sys.stderr, check=False)
    return proc.returncode == 0


def stop_on_sigterm() -> None:
    """Turns SIGTERM into KeyboardInterrupt so that every child is still stopped."""

    def handler(signum: int, frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, handler)


@contextlib.contextmanager
def child(
    name: str,
    argv: Sequence[str],
    logs: Path,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> Iterator[subprocess.Popen[bytes]]:
    """Starts a server in its own process group and always ends that group on exit."""
    logs.mkdir(parents=True, exist_ok=True)
    full_env = dict(os.environ)
    full_env.update(env or {})
    with open(logs / f"{name}.log", "wb") as out:
        proc = subprocess.Popen(
            list(argv),
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=full_env,
            cwd=cwd,
            start_new_session=True,
        )
        try:
            yield proc
        finally:
            stop(proc)


def stop(proc: subprocess.Popen[Any], grace: float = 5.0) -> None:
    """SIGTERM to the child's process group, then SIGKILL after the grace period."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, grace)):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            continue
        # The leader is gone; make sure nothing it forked in its group lingers.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        return


def tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def http_request(
    port: int,
    method: str,
    path: str,
    body: bytes | None = None,
    token: str | None = API_KEY,
    timeout: float = 10.0,
) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        hdrs = {"Content-Type": "application/json"}
        if token:
            hdrs["Authorization"] = f"Bearer {token}"
        conn.request(method, path, body=body, headers=hdrs)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def wait_ready(port: int, path: str, proc: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    """Polls GET path until it answers 200; raises if the process dies or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"process exited with code {proc.returncode} before ready")
        with contextlib.suppress(OSError, http.client.HTTPException):
            status, _ = http_request(port, "GET", path, token=None, timeout=2.0)
            if status == 200:
                return
        time.sleep(0.2)
    raise RuntimeError(f"not ready on port {port}{path} after {timeout:.0f} s")


def mint_api_key(port: int, email: str, password: str) -> str:
    """Logs in as the first owner and creates an API key (the pinned /auth and /api-keys)."""
    login = json.dumps({"email": email, "password": password}).encode()
    status, raw = http_request(port, "POST", "/auth/login", login, token=None)
    if status != 200:
        raise RuntimeError(f"login failed: HTTP {status}: {raw[:300]!r}")
    access = json.loads(raw)["access_token"]
    body = json.dumps({"name": "bench"}).encode()
    status, raw = http_request(port, "POST", "/api-keys", body, token=access)
    if status != 201:
        raise RuntimeError(f"creating an API key failed: HTTP {status}: {raw[:300]!r}")
    key: str = json.loads(raw)["key"]
    return key


@contextlib.contextmanager
def start_ours(
    tmp: Path,
    toml: str,
    env: Mapping[str, str] | None = None,
    timeout: float = 120.0,
    args: Sequence[str] = (),
) -> Iterator[tuple[int, str]]:
    """`uait serve` (with `args`, e.g. --workers) on a fresh data directory; yields its
    port and an API key for it."""
    (tmp / "uait.toml").write_text(toml)
    password = secrets.token_urlsafe(18)
    full_env = {
        "UAIT_CONFIG": str(tmp / "uait.toml"),
        "UAIT_DATA_DIR": str(tmp / "data"),
        "UAIT_ADMIN_EMAIL": OURS_ADMIN,
        "UAIT_ADMIN_PASSWORD": password,
        "UAIT_LOG_LEVEL": "warning",
        # Benchmarks measure the gateway and the model, never answers from the cache.
        "UAIT_CACHE__ENABLED": "false",
        **(env or {}),
    }
    port = free_port()
    argv = [str(PROJECT_BIN / "uait"), "serve", "--host", "127.0.0.1", "--port", str(port), *args]
    if not Path(argv[0]).exists():
        raise RuntimeError(f"{argv[0]} is missing")
    with child("ours", argv, tmp / "logs", env=full_env, cwd=tmp) as proc:
        try:
            wait_ready(port, "/health", proc, timeout=timeout)
            key = mint_api_key(port, OURS_ADMIN, password)
        except RuntimeError as exc:
            raise RuntimeError(f"{exc}\n{tail(tmp / 'logs' / 'ours.log')}") from exc
        yield port, key


def median(values: Sequence[float]) -> float | None:
    return statistics.median(values) if values else None


def fmt(value: Any, digits: int = 1, suffix: str = "") -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.{digits}f}{suffix}"
    return f"{value}{suffix}"


def md_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    out = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    out += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(out)


def write_result(name: str, result: Mapping[str, Any]) -> Path:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{name}.json"
    path.write_text(json.dumps(result, indent=2, sort_keys=False) + "\n")
    return path


def cpu_busy(seconds: float = 1.0) -> float | None:
    """Fraction of all CPUs' time spent busy over the next `seconds` (Linux), else None."""

    def sample() -> tuple[int, int]:
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
        return sum(fields), idle

    try:
        total0, idle0 = sample()
        time.sleep(seconds)
        total1, idle1 = sample()
    except (OSError, ValueError, IndexError):
        return None
    total = total1 - total0
    return round(1 - (idle1 - idle0) / total, 3) if total > 0 else None


def machine_info() -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(),
        "python": sys.version.split()[0],
        "loadavg_1m_at_start": round(os.getloadavg()[0], 2),
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def main(
    name: str,
    run: Callable[[], dict[str, Any]],
    summary: Callable[[dict[str, Any]], str],
) -> None:
    """Standalone entry point of one benchmark module."""
    stop_on_sigterm()
    result = run()
    path = write_result(name, result)
    print(summary(result))
    log(f"wrote {path.relative_to(REPO_DIR)}")
