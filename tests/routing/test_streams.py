"""Done-when 4: a stream cut by the upstream after 5 chunks reaches the client as those 5
chunks and then a well-formed error, in the OpenAI (SSE) and Ollama (NDJSON) formats; it
is never retried after its first delta, and never silently truncated."""

from __future__ import annotations

from collections.abc import Callable

import orjson
import pytest

from tests.routing.conftest import StartUpstream, backend, chat, client, model, sse_events
from tests.servers import LiveServer

Routed = Callable[..., LiveServer]
WORDS = [f"w{i} " for i in range(10)]


@pytest.mark.parametrize("kind", ["openai", "ollama"])
async def test_cut_after_five_chunks_ends_with_an_error_in_both_formats(
    routed: Routed, upstream: StartUpstream, kind: str
) -> None:
    cutting = upstream(kind)
    cutting.fake.behaviour.words = WORDS
    # The OpenAI fake's first line is the role chunk: cut after it and five words.
    cutting.fake.behaviour.cut_after = 6 if kind == "openai" else 5
    server = routed(backend("cutting", cutting) + model("m", backend="cutting", target="t"))
    async with client(server) as http:
        sse = await http.post("/v1/chat/completions", json=chat("m", stream=True))
        ndjson = await http.post("/api/chat", json=chat("m", stream=True))

    assert sse.status_code == 200
    events = sse_events(sse.text)
    assert "[DONE]" not in events
    content = [e["choices"][0]["delta"].get("content") for e in events[:-1]]
    assert [c for c in content if c] == WORDS[:5]
    error = events[-1]["error"]
    assert set(error) == {"message", "type", "code"}
    assert "cut the response short" in error["message"] and error["type"] == "upstream_error"

    assert ndjson.status_code == 200
    lines = [orjson.loads(line) for line in ndjson.text.splitlines() if line]
    assert [line["message"]["content"] for line in lines[:-1]] == WORDS[:5]
    assert all(line["done"] is False for line in lines[:-1])
    assert set(lines[-1]) == {"error"} and "cut the response short" in lines[-1]["error"]

    assert len(cutting.chats()) == 2  # one call per request: no retry after the first delta


async def test_a_stream_failing_before_its_first_delta_falls_back(
    routed: Routed, upstream: StartUpstream
) -> None:
    broken, spare = upstream("ollama"), upstream("openai")
    broken.fake.behaviour.cut_after = 0  # the connection drops before any chunk
    server = routed(
        backend("broken", broken)
        + backend("spare", spare)
        + model("m", backend="broken", target="t", fallbacks=["s"])
        + model("s", backend="spare", target="s"),
        attempts=2,
    )
    async with client(server) as http:
        answer = await http.post("/v1/chat/completions", json=chat("m", stream=True))
    assert answer.status_code == 200
    events = sse_events(answer.text)
    text = "".join(e["choices"][0]["delta"].get("content", "") for e in events[:-1] if e["choices"])
    assert text == "Hello from the upstream" and events[-1] == "[DONE]"
    assert answer.headers["X-UAIT-Route"] == "s (requested; m failed 2 attempts; fallback)"
    assert len(broken.chats()) == 2 and len(spare.chats()) == 1
