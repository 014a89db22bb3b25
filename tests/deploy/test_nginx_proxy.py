"""A real nginx with deploy/nginx/nginx.conf (via nginx/check.sh serve) in front of two
real `uait serve` processes sharing one data directory: requests reach both instances,
a chat completion streams through it, and a WebSocket joins a room through it."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.deploy.tools import DEPLOY, missing_tool
from tests.processes import Process, Serve, healthy, start_serve
from tests.servers import free_port

pytestmark = pytest.mark.usefixtures("backend_env")  # PostgreSQL in the second pass

EMAIL, PASSWORD = "owner@example.com", "pw-123456789"  # cli_env's first owner


@dataclass
class Edge:
    url: str
    apps: list[Serve]

    def token(self) -> str:
        login = httpx.post(
            f"{self.url}/auth/login", json={"email": EMAIL, "password": PASSWORD}, timeout=30
        )
        assert login.status_code == 200, login.text
        return str(login.json()["access_token"])


@pytest.fixture
def edge(tmp_path: Path) -> Iterator[Edge]:
    if shutil.which("nginx") is None:
        missing_tool("nginx (apt-get install nginx)")
    public = {"UAIT_OBSERVABILITY__METRICS_PUBLIC": "true"}  # to look at each app directly
    started: list[Process] = []
    try:
        # app1 first: on the empty database it runs the migrations and makes the owner
        started.append(app1 := start_serve(tmp_path, "app1", **public))
        started.append(app2 := start_serve(tmp_path, "app2", **public))
        port = free_port()
        command = ["bash", str(DEPLOY / "nginx" / "check.sh"), "serve", str(port)]
        command += [str(app1.port), str(app2.port)]
        env = {**os.environ, "TMPDIR": str(tmp_path)}
        started.append(nginx := Process.start(command, tmp_path / "nginx.log", env))
        url = f"http://127.0.0.1:{port}"
        nginx.wait_until(lambda: healthy(url, "/nginx-health"), seconds=30)
        yield Edge(url, [app1, app2])
    finally:
        for process in reversed(started):
            process.stop()


def health_requests(app: Serve) -> float:
    scraped = httpx.get(f"{app.url}/metrics", timeout=30).text
    return sum(
        sample.value
        for family in text_string_to_metric_families(scraped)
        for sample in family.samples
        if sample.name == "uait_http_requests_total" and sample.labels["route"] == "/health"
    )


def test_requests_reach_both_instances(edge: Edge) -> None:
    before = [health_requests(app) for app in edge.apps]
    with httpx.Client(base_url=edge.url, timeout=30) as http:
        for _ in range(10):
            assert http.get("/health").status_code == 200
        assert http.get("/metrics").status_code == 404  # closed at the edge
    after = [health_requests(app) for app in edge.apps]
    through_nginx = [a - b for a, b in zip(after, before, strict=True)]
    assert sum(through_nginx) == 10 and all(through_nginx), through_nginx


def test_chat_completion_streams_through_nginx(edge: Edge) -> None:
    body = {
        "model": "smollm2",
        "messages": [{"role": "user", "content": "Say hello."}],
        "stream": True,
        "max_tokens": 8,
    }
    headers = {"Authorization": f"Bearer {edge.token()}"}
    events: list[str] = []
    with (
        httpx.Client(base_url=edge.url, timeout=120, headers=headers) as http,
        http.stream("POST", "/v1/chat/completions", json=body) as response,
    ):
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        events = [line for line in response.iter_lines() if line.strip()]
    assert events[-1] == "data: [DONE]"
    chunks = [json.loads(line.removeprefix("data: ")) for line in events[:-1]]
    assert chunks and all(chunk["object"] == "chat.completion.chunk" for chunk in chunks)
    assert any(choice.get("finish_reason") for chunk in chunks for choice in chunk["choices"])


def smoke() -> ModuleType:
    """deploy/smoke.py, whose WebSocket round trip this test reuses."""
    spec = importlib.util.spec_from_file_location("deploy_smoke", DEPLOY / "smoke.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_websocket_joins_a_room_through_nginx(edge: Edge) -> None:
    token = edge.token()
    room = httpx.post(
        f"{edge.url}/rooms",
        json={"name": "through-nginx"},
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    assert room.status_code == 201, room.text
    ws_url = "ws" + edge.url.removeprefix("http")
    # ready, ping/pong, join, a message echoed back with its seq; exits non-zero on failure
    asyncio.run(smoke().websocket_round_trip(ws_url, token, room.json()["id"]))
