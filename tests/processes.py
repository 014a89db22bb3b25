"""Real `uait serve` processes for tests, each in its own process group."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.core.test_cli import UAIT, cli_env
from tests.servers import free_port


@dataclass
class Process:
    """A subprocess in a process group of its own, its output in a log file."""

    process: subprocess.Popen[bytes]
    log: Path

    @classmethod
    def start(cls, command: list[str], log: Path, env: dict[str, str]) -> Process:
        with log.open("wb") as output:
            process = subprocess.Popen(
                command, env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True
            )
        return cls(process, log)

    def wait_until(self, ready: Callable[[], bool], seconds: float = 120) -> None:
        deadline = time.monotonic() + seconds
        while not ready():
            assert self.process.poll() is None, self.log.read_text()
            assert time.monotonic() < deadline, self.log.read_text()
            time.sleep(0.2)

    def kill(self) -> None:
        """SIGKILL to the whole group: no shutdown, nothing flushed, as a crash would."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=60)

    def stop(self) -> None:
        """SIGTERM to the whole process group, as a service manager would."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
        self.process.wait(timeout=60)


@dataclass
class Serve(Process):
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def start_serve(tmp_path: Path, name: str, *args: str, **env: str) -> Serve:
    """`uait serve` with the data directory tmp_path/data (the first owner of `cli_env`)."""
    return launch_serve(list(args), tmp_path / f"{name}.log", cli_env(tmp_path, **env))


def launch_serve(args: list[str], log: Path, env: dict[str, str]) -> Serve:
    """`uait serve ARGS` on a free loopback port; it answers /health before this returns."""
    port = free_port()
    command = [UAIT, "serve", "--host", "127.0.0.1", "--port", str(port), *args]
    started = Process.start(command, log, env)
    server = Serve(started.process, started.log, port)
    try:
        server.wait_until(lambda: healthy(server.url))
    except BaseException:
        server.stop()
        raise
    return server


def healthy(url: str, path: str = "/health") -> bool:
    try:
        return httpx.get(f"{url}{path}", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False
