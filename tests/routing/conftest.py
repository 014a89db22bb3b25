"""Fake upstreams started on demand, and a live server configured by a uait.toml."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import orjson
import pytest

from tests.conftest import SettingsFactory
from tests.fakes import FakeOllama, FakeOpenAI, FakeUpstream
from tests.servers import AiohttpServer, LiveServer
from universal_ai_tools.settings import Settings

Serve = Callable[[Settings], LiveServer]


@dataclass
class Upstream:
    """A fake upstream on loopback that a test can also kill."""

    fake: FakeUpstream
    server: AiohttpServer
    kind: str
    alive: bool = True

    @property
    def url(self) -> str:
        return f"{self.server.url}/v1" if self.kind == "openai" else self.server.url

    def chats(self) -> list[dict[str, Any]]:
        return [call.body for call in self.fake.chat_calls()]

    def kill(self) -> None:
        if self.alive:
            self.alive = False
            self.server.__exit__(None, None, None)


StartUpstream = Callable[..., Upstream]


@pytest.fixture
def upstream() -> Iterator[StartUpstream]:
    started: list[Upstream] = []

    def start(kind: str = "openai") -> Upstream:
        fake: FakeUpstream = FakeOpenAI() if kind == "openai" else FakeOllama()
        server = AiohttpServer(fake.app).__enter__()  # type: ignore[attr-defined]
        started.append(Upstream(fake, server, kind))
        return started[-1]

    yield start
    for item in started:
        item.kill()


def backend(name: str, up: Upstream | str, kind: str = "openai", **extra: object) -> str:
    url = up.url if isinstance(up, Upstream) else up
    kind = up.kind if isinstance(up, Upstream) else kind
    lines = [f'name = "{name}"', f'kind = "{kind}"', f'url = "{url}"']
    lines += [f"{key} = {_toml(value)}" for key, value in extra.items()]
    return "[[backends]]\n" + "\n".join(lines) + "\n\n"


def model(name: str, **fields: object) -> str:
    lines = [f'name = "{name}"'] + [f"{key} = {_toml(value)}" for key, value in fields.items()]
    return "[[models]]\n" + "\n".join(lines) + "\n\n"


def _toml(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_toml(v)}" for k, v in value.items()) + " }"
    return str(value)


@pytest.fixture
def routed(make_settings: SettingsFactory, serve: Serve) -> Callable[..., LiveServer]:
    """A live server with only the given backends and models (no embedded model, no
    response cache), and routing settings for the test."""

    def start(toml: str, **routing: object) -> LiveServer:
        settings = make_settings(
            toml=toml,
            embedded={"enabled": False, "threads": 1},
            cache={"enabled": False},
            routing={"health_interval": 0, **routing},
        )
        return serve(settings)

    return start


def client(server: LiveServer, **headers: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=server.url, headers={**server.headers, **headers}, timeout=60)


def chat(model_name: str, content: str = "hi", **extra: object) -> dict[str, Any]:
    return {"model": model_name, "messages": [{"role": "user", "content": content}], **extra}


def deployments(server: LiveServer, model_name: str) -> list[dict[str, Any]]:
    listed = httpx.get(f"{server.url}/v1/models", headers=server.headers, timeout=30)
    assert listed.status_code == 200, listed.text
    card = next(c for c in listed.json()["data"] if c["id"] == model_name)
    found: list[dict[str, Any]] = card["uait"]["deployments"]
    return found


def wait_until(condition: Callable[[], bool], limit: float = 30.0) -> bool:
    """Poll a condition (bounded); the assertion after it says what was expected."""
    deadline = time.monotonic() + limit
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def sse_events(text: str) -> list[Any]:
    return [
        orjson.loads(line[6:]) if line != "data: [DONE]" else "[DONE]"
        for line in text.splitlines()
        if line.startswith("data: ")
    ]
