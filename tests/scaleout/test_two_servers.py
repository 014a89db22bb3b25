"""Two `uait serve` processes on one database, one Redis and one data directory: any
instance serves any room, and the cache, rate limits, revocations and presence are one."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from tests.conftest import SettingsFactory
from tests.processes import Serve
from tests.realtime.helpers import Client, make_user, token_for, ws_client
from tests.scaleout.processes import start_instance
from tests.scaleout.redis_server import RedisServer
from websockets.exceptions import ConnectionClosed

Pair = tuple[Serve, Serve]


@pytest.fixture
def pair(make_settings: SettingsFactory, redis: RedisServer) -> Iterator[Pair]:
    settings = make_settings(redis_url=redis.url)
    fast = {"UAIT_REALTIME__MESSAGES_PER_SECOND": "10000", "UAIT_REALTIME__BURST": "10000"}
    first = start_instance(settings, "a", **fast)  # one after the other: A migrates
    second = start_instance(settings, "b", **fast)
    try:
        yield first, second
    finally:
        first.stop()
        second.stop()


def client(server: Serve, token: str) -> httpx.Client:
    return httpx.Client(
        base_url=server.url, headers={"Authorization": f"Bearer {token}"}, timeout=120
    )


def room_of(server: Serve, token: str, members: list[str]) -> str:
    created = client(server, token).post("/rooms", json={"name": "both", "members": members})
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


def ann_on_a_bob_on_b(a: Serve, b: Serve) -> tuple[str, str, str, str]:
    """A room of Ann's (made on A) with Bob (made on B): room, Ann's token, Bob's id and token."""
    _, ann = make_user(a, "ann@example.com")  # type: ignore[arg-type]
    bob_id, bob = make_user(b, "bob@example.com")  # type: ignore[arg-type]
    return room_of(a, ann, [bob_id]), ann, bob_id, bob


def chat(http: httpx.Client, content: str) -> httpx.Response:
    body = {
        "model": "smollm2",
        "messages": [{"role": "user", "content": content}],
        "temperature": 0,
        "max_tokens": 6,
    }
    response = http.post("/v1/chat/completions", json=body)
    assert response.status_code == 200, response.text
    return response


def until(check: Any, within: float = 30.0) -> None:
    """Wait for a state another process reaches (no timing is asserted)."""
    deadline = time.monotonic() + within
    while not check():
        assert time.monotonic() < deadline, "the other instance never got there"
        time.sleep(0.1)


def test_a_room_spans_both_servers(pair: Pair) -> None:
    a, b = pair
    room, ann, bob_id, bob = ann_on_a_bob_on_b(a, b)

    async def scenario() -> None:
        on_a = await ws_client(a, ann)  # type: ignore[arg-type]
        await on_a.join(room)
        on_b = await ws_client(b, bob)  # type: ignore[arg-type]
        await on_b.join(room)
        # presence is global: Ann, on A, sees Bob come online on B
        await on_a.until("presence", user_id=bob_id, status="online")

        await on_b.send(type="message", room=room, content="from b", client_id="b1")
        first = await on_a.until("message", client_id="b1")
        await on_a.send(type="message", room=room, content="from a", client_id="a1")
        second = await on_b.until("message", client_id="a1")
        posted = client(b, bob).post(f"/rooms/{room}/messages", json={"content": "http on b"})
        third = await on_a.until("message", content="http on b")
        assert [first["seq"], second["seq"], third["seq"]] == [1, 2, 3]

        # both instances store at once: every client sees one gap-free order
        async def burst(sender: Client, tag: str) -> None:
            for n in range(30):
                frame = {"content": f"{tag}{n}", "client_id": f"{tag}{n}"}
                await sender.send(type="message", room=room, **frame)

        await asyncio.gather(burst(on_a, "x"), burst(on_b, "y"))
        seen_a = [await on_a.until("message") for _ in range(60)]
        third_on_b = await on_b.until("message")  # B's own client still has seq 3 to read
        seen_b = [await on_b.until("message") for _ in range(60)]
        assert [e["seq"] for e in seen_a] == list(range(4, 64))
        assert third_on_b["seq"] == 3
        assert [e["id"] for e in seen_a] == [e["id"] for e in seen_b]
        for tag in ("x", "y"):  # each sender's order kept
            assert [e["content"] for e in seen_a if e["content"].startswith(tag)] == [
                f"{tag}{n}" for n in range(30)
            ]

        await on_b.close()
        await on_a.until("presence", user_id=bob_id, status="offline")
        await on_a.close()
        assert posted.json()["seq"] == 3

    asyncio.run(scenario())


def test_cache_limits_and_revocation_are_shared(pair: Pair) -> None:
    a, b = pair
    owner = token_for(a, "owner@example.com", "owner-password-123")  # type: ignore[arg-type]

    assert chat(client(a, owner), "Name a colour.").headers["x-uait-cache"] == "miss"
    assert chat(client(b, owner), "Name a colour.").headers["x-uait-cache"] == "hit"

    made = client(a, owner).post("/api-keys", json={"name": "limited", "rpm": 3}).json()
    key = made["key"]
    embed = {"model": "all-minilm", "input": "one limit"}
    answers = [
        client(server, key).post("/v1/embeddings", json=embed).status_code
        for server in (a, b, a, b)
    ]
    assert answers == [200, 200, 200, 429]  # one limit across both instances

    other = client(a, owner).post("/api-keys", json={"name": "revoked"}).json()
    assert client(b, other["key"]).get("/v1/models").status_code == 200  # known to B
    assert client(a, owner).delete(f"/api-keys/{other['id']}").status_code == 204
    until(lambda: client(b, other["key"]).get("/v1/models").status_code == 401)

    user_id, token = make_user(a, "carl@example.com")  # type: ignore[arg-type]
    assert client(b, token).get("/auth/me").status_code == 200
    suspended = client(a, owner).patch(f"/users/{user_id}", json={"suspended": True})
    assert suspended.status_code == 200, suspended.text
    until(lambda: client(b, token).get("/auth/me").status_code == 401)


def test_sigkill_loses_no_acknowledged_message(pair: Pair) -> None:
    a, b = pair
    _, ann = make_user(a, "ann@example.com")  # type: ignore[arg-type]
    room = room_of(a, ann, [])
    acknowledged: list[str] = []

    async def scenario() -> None:
        on_a = await ws_client(a, ann)  # type: ignore[arg-type]
        await on_a.join(room)

        async def send_all() -> None:
            for n in range(400):
                await on_a.send(type="message", room=room, content=f"m{n}", client_id=f"m{n}")

        sending = asyncio.create_task(send_all())
        while len(acknowledged) < 40:
            event = await on_a.until("message")
            acknowledged.append(event["client_id"])
        a.kill()  # mid-stream: more messages are on the way and in flight
        with contextlib.suppress(ConnectionClosed, TimeoutError):  # the connection is gone
            while True:
                acknowledged.append((await on_a.until("message", wait=10))["client_id"])
        sending.cancel()

    asyncio.run(scenario())
    stored: list[dict[str, Any]] = []
    after = 0
    while True:
        page = client(b, ann).get(f"/rooms/{room}/messages", params={"after": after, "limit": 500})
        data = page.json()["data"]
        if not data:
            break
        stored += data
        after = data[-1]["seq"]
    stored_ids = [m["client_id"] for m in stored]
    assert set(acknowledged) <= set(stored_ids)  # nothing acknowledged is lost
    assert len(stored_ids) == len(set(stored_ids))
    assert [m["seq"] for m in stored] == list(range(1, len(stored) + 1))


def test_redis_outage_then_recovery(pair: Pair, redis: RedisServer) -> None:
    a, b = pair
    room, ann, _, bob = ann_on_a_bob_on_b(a, b)

    async def scenario() -> None:
        on_a = await ws_client(a, ann)  # type: ignore[arg-type]
        await on_a.join(room)
        redis.stop()
        # HTTP still works on both; the shared cache is bypassed
        assert chat(client(a, ann), "Say hi.").headers["x-uait-cache"] == "bypass"
        during = client(b, bob).post(f"/rooms/{room}/messages", json={"content": "during"})
        assert during.status_code == 201, during.text
        redis.start()
        # fan-out resumes by itself: a message through B reaches Ann on A, and the one
        # B stored while Redis was away comes first, in order (filled from storage)
        deadline = time.monotonic() + 60
        seen: list[dict[str, Any]] = []
        n = 0
        while not any(e["content"].startswith("after") for e in seen):
            assert time.monotonic() < deadline, "fan-out did not resume"
            n += 1
            client(b, bob).post(f"/rooms/{room}/messages", json={"content": f"after{n}"})
            try:
                while True:
                    seen.append(await on_a.until("message", wait=1))
            except TimeoutError:
                pass
        assert seen[0]["content"] == "during"
        assert [e["seq"] for e in seen] == list(range(1, len(seen) + 1))
        await on_a.close()

    asyncio.run(scenario())
    # caching resumes too (Redis came back empty)
    until(lambda: chat(client(a, ann), "Say hello.").headers["x-uait-cache"] == "hit")
