"""`uait serve` as a real process of its own, on the database and Redis of given settings.

Several such servers on one database, one Redis and one data directory (the JWT secret
and uploaded files live there) are several instances of one deployment.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
from tests.conftest import OWNER_EMAIL, OWNER_PASSWORD
from tests.servers import free_port

from universal_ai_tools.settings import Settings

UAIT = str(Path(sys.executable).parent / "uait")


def server_env(settings: Settings, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("UAIT_")}
    env.update(
        {
            "UAIT_DATA_DIR": str(settings.data_dir),
            "UAIT_DATABASE_URL": settings.resolved_database_url,
            "UAIT_ADMIN_EMAIL": OWNER_EMAIL,
            "UAIT_ADMIN_PASSWORD": OWNER_PASSWORD,
            "UAIT_EMBEDDED__THREADS": "1",
            "UAIT_LOG_LEVEL": "warning",
        }
    )
    if settings.redis_url:
        env["UAIT_REDIS_URL"] = settings.redis_url
    config = os.environ.get("UAIT_CONFIG")
    if config:
        env["UAIT_CONFIG"] = config
    env.update(extra)
    return env


class ServerProcess:
    def __init__(self, settings: Settings, name: str, **env: str) -> None:
        self.name = name
        self.port = free_port()
        self.log = settings.data_dir.parent / f"{name}.log"
        self.env = server_env(settings, **env)
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ServerProcess:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [UAIT, "serve", "--host", "127.0.0.1", "--port", str(self.port)],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + 90
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited:\n{self.log.read_text()[-3000:]}")
            try:
                if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.name} did not start:\n{self.log.read_text()[-3000:]}")
            time.sleep(0.1)

    def kill(self) -> None:
        """SIGKILL: no shutdown, nothing flushed, as a crash or an OOM kill would."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()
