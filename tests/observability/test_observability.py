"""Metrics, traces, request ids and readiness, against the real app."""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path

import httpx
import pytest
from aiohttp import web
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import OWNER_EMAIL, OWNER_PASSWORD, SettingsFactory, login
from tests.fakes import FakeOpenAI
from tests.realtime.helpers import ws_client
from tests.servers import AiohttpServer, LiveServer
from universal_ai_tools.app import create_app


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def value(found: dict, name: str, **labels: str) -> float:
    return sum(
        v
        for (n, ls), v in found.items()
        if n == name and all(dict(ls).get(k) == want for k, want in labels.items())
    )


def test_metrics_count_what_happened(live_server: LiveServer) -> None:
    http = httpx.Client(base_url=live_server.url, headers=live_server.headers, timeout=60)
    chat = {
        "model": "smollm2",
        "messages": [{"role": "user", "content": "Hi"}],
        "max_tokens": 4,
        "temperature": 0,
    }
    assert http.post("/v1/chat/completions", json=chat).status_code == 200
    assert http.post("/v1/chat/completions", json=chat).headers["x-uait-cache"] == "hit"
    streamed = {**chat, "stream": True, "messages": [{"role": "user", "content": "Name a colour."}]}
    assert http.post("/v1/chat/completions", json=streamed).status_code == 200
    bad = httpx.post(f"{live_server.url}/auth/login", json={"email": OWNER_EMAIL, "password": "no"})
    assert bad.status_code == 401

    login_body = {"email": OWNER_EMAIL, "password": OWNER_PASSWORD}
    token = http.post("/auth/login", json=login_body).json()["access_token"]
    room = http.post("/rooms", json={"name": "m"}).json()["id"]

    async def one_ws_message() -> None:
        client = await ws_client(live_server, token)
        await client.join(room)
        await client.send(type="message", room=room, content="hello", client_id="1")
        await client.until("message")
        await client.close()

    asyncio.run(one_ws_message())
    assert httpx.get(f"{live_server.url}/metrics").status_code == 401
    scraped = http.get("/metrics")
    assert scraped.status_code == 200
    found = samples(scraped.text)
    assert value(found, "uait_http_requests_total", route="/v1/chat/completions", status="200") == 3
    assert value(found, "uait_http_requests_total", route="/auth/login", status="401") == 1
    assert value(found, "uait_cache_lookups_total", result="hit") >= 1
    assert value(found, "uait_cache_lookups_total", result="miss") >= 1
    assert value(found, "uait_auth_failures_total", reason="unauthorized") >= 1
    assert value(found, "uait_ws_messages_total", direction="in") >= 2
    assert value(found, "uait_ws_messages_total", direction="out") >= 2
    assert (
        value(found, "uait_http_request_duration_seconds_count", route="/v1/chat/completions") == 3
    )
    assert ("uait_embedded_queue_depth", ()) in found
    assert value(found, "uait_llm_requests_total", model="smollm2", outcome="ok") == 2
    assert value(found, "uait_llm_tokens_total", model="smollm2", direction="output") > 0
    assert value(found, "uait_llm_time_to_first_token_seconds_count", model="smollm2") == 2
    assert value(found, "uait_llm_inter_token_seconds_count", model="smollm2") == 1
    names = {name for name, _ in found}
    assert not any("/v1/chat/completions?" in str(labels) for _, labels in found)
    assert "uait_ws_connections" in names


async def test_request_id_and_trace_id_on_errors(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/nothing", headers={"X-Request-ID": "req-42"})
    assert response.headers["x-request-id"] == "req-42"
    assert response.json()["error"]["trace_id"] == response.headers["x-trace-id"]
    fresh = await client.get("/health", headers={"X-Request-ID": "bad id with spaces"})
    assert fresh.headers["x-request-id"] != "bad id with spaces"
    assert len(fresh.headers["x-request-id"]) == 32


async def test_incoming_traceparent_continues_the_trace(
    make_settings: SettingsFactory, fake_openai: tuple[FakeOpenAI, str]
) -> None:
    fake, url = fake_openai
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    toml = f"""
[[backends]]
name = "remote"
kind = "openai"
url = "{url}/v1"

[[models]]
name = "remote-model"
backend = "remote"
target = "gpt-fake"
"""
    app = create_app(make_settings(toml=toml), tracer_provider=provider)
    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            token = await login(http, OWNER_EMAIL, OWNER_PASSWORD)
            response = await http.post(
                "/v1/chat/completions",
                json={
                    "model": "remote-model",
                    "messages": [{"role": "user", "content": "Hi"}],
                    "max_tokens": 3,
                    "temperature": 0,
                },
                headers={
                    "Authorization": f"Bearer {token}",
                    "traceparent": f"00-{trace_id}-00f067aa0ba902b7-01",
                },
            )
    assert response.headers["x-trace-id"] == trace_id
    spans = [
        s for s in exporter.get_finished_spans() if format(s.context.trace_id, "032x") == trace_id
    ]
    server = [s for s in spans if s.name == "POST /v1/chat/completions"]
    assert len(server) == 1
    assert server[0].attributes["http.route"] == "/v1/chat/completions"
    assert format(server[0].parent.span_id, "016x") == "00f067aa0ba902b7"
    by_name = {s.name: s for s in spans}
    lookup, route, chat = (
        by_name["cache.lookup"],
        by_name["route remote-model"],
        by_name["chat remote-model"],
    )
    assert lookup.parent.span_id == server[0].context.span_id
    assert route.parent.span_id == server[0].context.span_id
    assert chat.parent.span_id == route.context.span_id
    assert lookup.attributes["uait.cache.result"] == "miss"
    assert chat.attributes["gen_ai.operation.name"] == "chat"
    assert chat.attributes["gen_ai.request.model"] == "remote-model"
    assert chat.attributes["gen_ai.response.model"] == "remote-model"
    assert chat.attributes["gen_ai.usage.input_tokens"] == 7
    assert chat.attributes["gen_ai.usage.output_tokens"] == 4
    assert chat.attributes["uait.backend"] == "remote"
    upstream = [c for c in fake.calls if c.path == "/v1/chat/completions"][-1]
    traceparent = upstream.headers["traceparent"]
    assert traceparent.split("-")[1] == trace_id  # the backend joins the same trace
    assert "Hi" not in str(chat.attributes)  # no prompt text in spans


def test_spans_reach_an_otlp_receiver(make_settings: SettingsFactory, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    received: list[bytes] = []

    def receiver() -> web.Application:
        async def traces(request: web.Request) -> web.Response:
            received.append(await request.read())
            return web.Response(status=200)

        app = web.Application()
        app.router.add_post("/v1/traces", traces)
        return app

    with AiohttpServer(receiver) as otlp:
        monkeypatch.setenv("OTEL_TRACES_EXPORTER", "otlp")
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", f"{otlp.url}/v1/traces")
        with LiveServer(create_app(make_settings())) as server:
            for _ in range(3):
                assert httpx.get(f"{server.url}/health").status_code == 200
        # shutting the server down flushes the batch
    assert received and any(b"universal-ai-tools" in body for body in received)
    assert any(b"GET /health" in body for body in received)


@pytest.mark.sqlite_only(
    "breaks the SQLite file; on PostgreSQL: test_postgres.py::test_ready_reports_a_lost_database"
)
async def test_ready_names_the_failing_database(anon: httpx.AsyncClient, settings) -> None:  # type: ignore[no-untyped-def]
    assert (await anon.get("/ready")).status_code == 200
    database = Path(settings.data_dir) / "uait.db"
    moved = database.with_suffix(".moved")
    os.rename(database, moved)
    database.mkdir()  # a directory where the database was: it cannot be opened
    try:
        response = await anon.get("/ready")
        assert response.status_code == 503
        assert response.json()["checks"]["database"] == "unavailable"
        assert response.json()["checks"]["backend:embedded"] == "ok"
    finally:
        shutil.rmtree(database)
        os.rename(moved, database)
    assert (await anon.get("/ready")).status_code == 200
