"""Fixtures: a real app per test on a real SQLite file, served over ASGI or real uvicorn."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from tests.fakes import FakeOllama, FakeOpenAI
from tests.servers import AiohttpServer, LiveServer
from universal_ai_tools.app import create_app
from universal_ai_tools.settings import Settings, load_settings

SettingsFactory = Callable[..., Settings]
OWNER_EMAIL = "owner@example.com"
OWNER_PASSWORD = "owner-password-123"


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No UAIT_* variable or uait.toml of the developer's leaks into a test."""
    for name in list(os.environ):
        if name.startswith("UAIT_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def make_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> SettingsFactory:
    """Settings on a fresh data directory; `toml=` writes and uses a uait.toml."""

    def make(toml: str | None = None, **overrides: object) -> Settings:
        if toml is not None:
            config = tmp_path / "uait.toml"
            config.write_text(toml)
            monkeypatch.setenv("UAIT_CONFIG", str(config))
        overrides.setdefault("data_dir", tmp_path / "data")
        overrides.setdefault("embedded", {"threads": 1})
        overrides.setdefault("admin_email", OWNER_EMAIL)
        overrides.setdefault("admin_password", OWNER_PASSWORD)
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
