"""Done-when 1 and 2: retryable failures (refused connections, 500, 429 with Retry-After,
stalls past the timeout) are retried or fall back, with exactly the policy's number of
attempts; a 400 is never retried, and a prompt too long goes to the context fallback."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.routing.conftest import (
    StartUpstream,
    backend,
    chat,
    client,
    deployments,
    model,
    sse_events,
)
from tests.servers import LiveServer, free_port

Routed = Callable[..., LiveServer]
ANSWER = "Hello from the upstream"


async def test_refused_connections_fall_back_after_every_attempt(
    routed: Routed, upstream: StartUpstream
) -> None:
    backup = upstream("openai")
    server = routed(
        backend("down", f"http://127.0.0.1:{free_port()}/v1")
        + backend("up", backup)
        + model("primary", backend="down", target="p", fallbacks=["backup"])
        + model("backup", backend="up", target="b"),
        breaker_threshold=10,
    )
    async with client(server) as http:
        answer = await http.post("/v1/chat/completions", json=chat("primary"))
        assert answer.status_code == 200, answer.text
        assert answer.json()["choices"][0]["message"]["content"] == ANSWER
        # The policy: 3 attempts at the model's only deployment, then its fallback.
        assert answer.headers["X-UAIT-Route"] == (
            "backup (requested; primary failed 3 attempts; fallback)"
        )
        streamed = await http.post("/v1/chat/completions", json=chat("primary", stream=True))
        assert streamed.status_code == 200, streamed.text
        assert "primary failed 3 attempts" in streamed.headers["X-UAIT-Route"]
        text = "".join(
            e["choices"][0]["delta"].get("content", "")
            for e in sse_events(streamed.text)
            if e != "[DONE]" and e["choices"]
        )
        assert text == ANSWER
    assert [c["model"] for c in backup.chats()] == ["b", "b"]


@pytest.mark.parametrize("kind", ["openai", "ollama"])
async def test_500_is_retried_until_it_succeeds(
    routed: Routed, upstream: StartUpstream, kind: str
) -> None:
    flaky = upstream(kind)
    flaky.fake.behaviour.fail_status = 500
    flaky.fake.behaviour.fail_times = 2
    server = routed(backend("flaky", flaky) + model("m", backend="flaky", target="t"))
    async with client(server) as http:
        answer = await http.post("/v1/chat/completions", json=chat("m"))
    assert answer.status_code == 200, answer.text
    assert answer.json()["choices"][0]["message"]["content"] == ANSWER
    assert len(flaky.chats()) == 3  # two failures, then the third attempt answers


async def test_persistent_500_uses_every_attempt_then_the_fallback(
    routed: Routed, upstream: StartUpstream
) -> None:
    broken, spare = upstream("openai"), upstream("ollama")
    broken.fake.behaviour.fail_status = 500
    server = routed(
        backend("broken", broken)
        + backend("spare", spare)
        + model("m", backend="broken", target="t", fallbacks=["spare-model"])
        + model("spare-model", backend="spare", target="s"),
        attempts=4,
    )
    async with client(server) as http:
        answer = await http.post("/api/chat", json=chat("m", stream=False))
    assert answer.status_code == 200, answer.text
    assert answer.json()["message"]["content"] == ANSWER
    assert (
        answer.headers["X-UAIT-Route"] == "spare-model (requested; m failed 4 attempts; fallback)"
    )
    assert len(broken.chats()) == 4 and len(spare.chats()) == 1


async def test_429_is_retried_after_retry_after(routed: Routed, upstream: StartUpstream) -> None:
    limited = upstream("openai")
    limited.fake.behaviour.fail_status = 429
    limited.fake.behaviour.retry_after = "1"
    limited.fake.behaviour.fail_times = 1
    server = routed(backend("limited", limited) + model("m", backend="limited", target="t"))
    async with client(server) as http:
        answer = await http.post("/v1/chat/completions", json=chat("m"))
    assert answer.status_code == 200, answer.text
    assert len(limited.chats()) == 2  # the 429, then the retry after the second it asked for


async def test_retry_after_beyond_the_cap_fails_over_at_once(
    routed: Routed, upstream: StartUpstream
) -> None:
    limited, spare = upstream("openai"), upstream("openai")
    limited.fake.behaviour.fail_status = 429
    limited.fake.behaviour.retry_after = "120"
    server = routed(
        backend("limited", limited)
        + backend("spare", spare)
        + model("m", backend="limited", target="t", fallbacks=["s"])
        + model("s", backend="spare", target="s"),
        retry_after_cap=5,
    )
    async with client(server) as http:
        answer = await http.post("/v1/chat/completions", json=chat("m"))
        assert answer.status_code == 200, answer.text
        assert answer.headers["X-UAIT-Route"] == "s (requested; m failed 1 attempt; fallback)"
    assert len(limited.chats()) == 1 and len(spare.chats()) == 1
    # A rate limit says the backend is alive: its breaker stays closed.
    assert deployments(server, "m")[0]["state"] == "closed"


async def test_stall_past_the_read_timeout_is_retried(
    routed: Routed, upstream: StartUpstream
) -> None:
    slow = upstream("openai")
    slow.fake.behaviour.stall_seconds = 3
    slow.fake.behaviour.stall_times = 1
    server = routed(backend("slow", slow, timeout=0.5) + model("m", backend="slow", target="t"))
    async with client(server) as http:
        answer = await http.post("/v1/chat/completions", json=chat("m"))
    assert answer.status_code == 200, answer.text
    assert len(slow.chats()) == 2


@pytest.mark.parametrize("kind", ["openai", "ollama"])
async def test_stream_without_a_first_token_in_time_is_retried(
    routed: Routed, upstream: StartUpstream, kind: str
) -> None:
    slow = upstream(kind)
    slow.fake.behaviour.stall_seconds = 3
    slow.fake.behaviour.stall_times = 1
    server = routed(
        backend("slow", slow, timeout=30, first_token_timeout=0.5)
        + model("m", backend="slow", target="t")
    )
    async with client(server) as http:
        answer = await http.post("/api/chat", json=chat("m", stream=True))
    assert answer.status_code == 200, answer.text
    lines = [line for line in answer.text.splitlines() if line]
    assert '"error"' not in answer.text and lines[-1].find('"done":true') != -1
    assert len(slow.chats()) == 2  # the stalled stream was given up, the retry answered


@pytest.mark.parametrize("kind", ["openai", "ollama"])
async def test_400_is_not_retried_and_keeps_the_upstream_message(
    routed: Routed, upstream: StartUpstream, kind: str
) -> None:
    strict = upstream(kind)
    strict.fake.behaviour.fail_status = 400
    strict.fake.behaviour.fail_message = "unsupported parameter: logit_bias"
    server = routed(backend("strict", strict) + model("m", backend="strict", target="t"))
    async with client(server) as http:
        openai_answer = await http.post("/v1/chat/completions", json=chat("m"))
        ollama_answer = await http.post("/api/chat", json=chat("m", stream=True))
    assert openai_answer.status_code == 400
    assert "unsupported parameter: logit_bias" in openai_answer.json()["error"]["message"]
    assert ollama_answer.status_code == 400
    assert "unsupported parameter: logit_bias" in ollama_answer.json()["error"]
    assert len(strict.chats()) == 2  # one call per request: never retried
    assert deployments(server, "m")[0]["state"] == "closed"


async def test_upstream_context_error_triggers_the_context_fallback(
    routed: Routed, upstream: StartUpstream
) -> None:
    short, long = upstream("openai"), upstream("ollama")
    short.fake.behaviour.fail_status = 400
    short.fake.behaviour.fail_message = (
        "This model's maximum context length is 4096 tokens. However, your messages "
        "resulted in 5210 tokens."
    )
    server = routed(
        backend("short", short)
        + backend("long", long)
        + model("m", backend="short", target="m-4k", context_fallback="big")
        + model("big", backend="long", target="m-128k")
    )
    async with client(server) as http:
        answer = await http.post("/v1/chat/completions", json=chat("m", "a long prompt"))
    assert answer.status_code == 200, answer.text
    assert answer.headers["X-UAIT-Route"] == (
        "big (requested; m rejected the prompt as too long; fallback)"
    )
    assert len(short.chats()) == 1 and [c["model"] for c in long.chats()] == ["m-128k"]


async def test_our_estimate_sends_a_long_prompt_to_the_context_fallback(
    routed: Routed, upstream: StartUpstream
) -> None:
    short, long = upstream("openai"), upstream("openai")
    server = routed(
        backend("short", short)
        + backend("long", long)
        + model("m", backend="short", target="t", context_size=512, context_fallback="big")
        + model("big", backend="long", target="t")
    )
    async with client(server) as http:
        small = await http.post("/v1/chat/completions", json=chat("m", "short question"))
        large = await http.post("/v1/chat/completions", json=chat("m", "word " * 1000))
    assert small.status_code == 200 and large.status_code == 200, large.text
    assert small.headers["X-UAIT-Route"] == "m (requested)"
    assert large.headers["X-UAIT-Route"] == "big (requested; prompt too long for m; fallback)"
    assert len(short.chats()) == 1 and len(long.chats()) == 1
