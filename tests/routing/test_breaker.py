"""Done-when 3: after N failures the breaker opens and no call reaches the upstream; after
the cool-down one probe closes it when the upstream is back. Active health checks feed the
same breakers. The state shows in `/v1/models` and in `uait models`."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.routing.conftest import (
    StartUpstream,
    backend,
    chat,
    client,
    deployments,
    model,
    wait_until,
)
from tests.servers import LiveServer

Routed = Callable[..., LiveServer]
UAIT = str(Path(sys.executable).parent / "uait")


async def breaker_metric(http: httpx.AsyncClient) -> dict[str, float]:
    """`uait_backend_breaker_state` per backend, read with prometheus_client's parser."""
    scraped = await http.get("/metrics")
    assert scraped.status_code == 200, scraped.text
    return {
        sample.labels["backend"]: sample.value
        for family in text_string_to_metric_families(scraped.text)
        if family.name == "uait_backend_breaker_state"
        for sample in family.samples
    }


async def test_breaker_opens_after_n_failures_and_a_probe_closes_it(
    routed: Routed, upstream: StartUpstream
) -> None:
    flaky, steady = upstream("openai"), upstream("openai")
    server = routed(
        backend("flaky", flaky)
        + backend("steady", steady)
        + model("m", backend="flaky", target="t", fallbacks=["spare"])
        + model("spare", backend="steady", target="s"),
        attempts=1,
        breaker_threshold=2,
        breaker_cooldown=1.0,
    )
    flaky.fake.behaviour.fail_status = 500
    async with client(server) as http:
        for _ in range(2):  # two failures (each served by the fallback) open the breaker
            answer = await http.post("/v1/chat/completions", json=chat("m"))
            assert answer.status_code == 200, answer.text
            assert "m failed 1 attempt" in answer.headers["X-UAIT-Route"]
        assert len(flaky.chats()) == 2
        assert deployments(server, "m") == [
            {"backend": "flaky", "target": "t", "state": "open", "healthy": False}
        ]
        for _ in range(3):  # open: nothing reaches the upstream, the fallback answers
            answer = await http.post("/v1/chat/completions", json=chat("m"))
            assert answer.status_code == 200, answer.text
            assert "m has no healthy deployment" in answer.headers["X-UAIT-Route"]
        assert len(flaky.chats()) == 2 and len(steady.chats()) == 5
        assert await breaker_metric(http) == {"flaky": 2.0, "steady": 0.0}  # 2: open

        flaky.fake.behaviour.fail_status = None  # the upstream is back
        assert wait_until(lambda: deployments(server, "m")[0]["state"] == "half-open")
        probe = await http.post("/v1/chat/completions", json=chat("m"))
        assert probe.status_code == 200 and probe.headers["X-UAIT-Route"] == "m (requested)"
        assert len(flaky.chats()) == 3
        assert deployments(server, "m")[0]["state"] == "closed"
        assert await breaker_metric(http) == {"flaky": 0.0, "steady": 0.0}
        after = await http.post("/v1/chat/completions", json=chat("m"))
        assert after.headers["X-UAIT-Route"] == "m (requested)"
    assert len(flaky.chats()) == 4 and len(steady.chats()) == 5


async def test_a_failed_probe_opens_the_breaker_again(
    routed: Routed, upstream: StartUpstream
) -> None:
    flaky = upstream("openai")
    flaky.fake.behaviour.fail_status = 502
    server = routed(
        backend("flaky", flaky) + model("m", backend="flaky", target="t"),
        attempts=1,
        breaker_threshold=1,
        breaker_cooldown=0.5,
    )
    async with client(server) as http:
        first = await http.post("/v1/chat/completions", json=chat("m"))
        assert first.status_code == 502 and "answered 502" in first.json()["error"]["message"]
        refused = await http.post("/v1/chat/completions", json=chat("m"))
        assert refused.status_code == 503
        message = refused.json()["error"]["message"]
        assert "no healthy deployment" in message and "circuit open" in message
        assert "answered 502" in message  # the reason the breaker opened
        assert len(flaky.chats()) == 1
        assert wait_until(lambda: deployments(server, "m")[0]["state"] == "half-open")
        probe = await http.post("/v1/chat/completions", json=chat("m"))
        assert probe.status_code == 502
        assert deployments(server, "m")[0]["state"] == "open"
    assert len(flaky.chats()) == 2


def test_health_checks_open_and_close_the_breaker_without_traffic(
    routed: Routed, upstream: StartUpstream
) -> None:
    flaky = upstream("openai")
    flaky.fake.behaviour.fail_status = 500  # its /v1/models (the health check) fails too
    server = routed(
        backend("flaky", flaky) + model("m", backend="flaky", target="t"),
        health_interval=0.1,
        breaker_threshold=2,
        breaker_cooldown=0.5,
    )
    assert wait_until(
        lambda: (
            deployments(server, "m")[0]
            == {"backend": "flaky", "target": "t", "state": "open", "healthy": False}
        )
    ), deployments(server, "m")
    flaky.fake.behaviour.fail_status = None
    assert wait_until(
        lambda: (
            deployments(server, "m")[0]
            == {"backend": "flaky", "target": "t", "state": "closed", "healthy": True}
        )
    ), deployments(server, "m")
    assert flaky.chats() == []  # only the background checks talked to it


def test_uait_models_shows_each_deployments_state(
    routed: Routed, upstream: StartUpstream, tmp_path: Path
) -> None:
    flaky, steady = upstream("openai"), upstream("ollama")
    flaky.fake.behaviour.fail_status = 500
    server = routed(
        backend("flaky", flaky)
        + backend("steady", steady)
        + model(
            "m",
            deployments=[{"backend": "flaky", "target": "t"}, {"backend": "steady", "target": "t"}],
        ),
        breaker_threshold=1,
    )
    answer = httpx.post(
        f"{server.url}/v1/chat/completions", json=chat("m"), headers=server.headers, timeout=30
    )
    assert answer.status_code == 200  # the flaky one failed (and opened) or was not tried
    if not flaky.chats():  # round-robin picked the healthy one first: the next goes to flaky
        answer = httpx.post(
            f"{server.url}/v1/chat/completions", json=chat("m"), headers=server.headers, timeout=30
        )
        assert answer.status_code == 200
    assert len(flaky.chats()) == 1
    env = {k: v for k, v in os.environ.items() if not k.startswith("UAIT_")}
    result = subprocess.run(
        [UAIT, "models", "--url", server.url, "--api-key", server.key],
        env={**env, "COLUMNS": "200", "UAIT_DATA_DIR": str(tmp_path / "cli")},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    rows = {
        line.split("│")[4].strip(): line for line in result.stdout.splitlines() if "│ m " in line
    }
    assert "open" in rows["flaky"] and "no" in rows["flaky"]
    assert "closed" in rows["steady"] and "yes" in rows["steady"]
