"""Done-when 8: with one tenant flooding a saturated backend, another tenant's requests are
served in turn (round-robin between organizations), not after the whole flood."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from tests.routing.conftest import StartUpstream, backend, chat, client, model, wait_until
from tests.servers import LiveServer
from universal_ai_tools.llm.routing import ModelRegistry

Routed = Callable[..., LiveServer]


async def second_tenant(server: LiveServer) -> dict[str, str]:
    """The owner of a second organization, logged in."""
    async with client(server) as http:
        created = await http.post(
            "/orgs",
            json={"name": "other", "owner": {"email": "b@example.com", "password": "b-pass-12345"}},
        )
        assert created.status_code == 201, created.text
        login = await http.post(
            "/auth/login", json={"email": "b@example.com", "password": "b-pass-12345"}
        )
    return {"Authorization": f"Bearer {login.json()['access_token']}"}


async def test_a_flooding_tenant_cannot_starve_another(
    routed: Routed, upstream: StartUpstream
) -> None:
    up = upstream("openai")
    up.fake.behaviour.stall_seconds = 0.3  # every call holds the backend's only slot a while
    server = routed(backend("up", up, max_concurrency=1) + model("m", backend="up", target="t"))
    registry: ModelRegistry = server.app.state.registry
    gate = registry.gates["up"]
    other = await second_tenant(server)
    async with client(server) as a, client(server, **other) as b:
        flood = [
            asyncio.create_task(a.post("/v1/chat/completions", json=chat("m", f"A{i}")))
            for i in range(8)
        ]
        assert await asyncio.to_thread(wait_until, lambda: gate.waiting == 7)
        late = [
            asyncio.create_task(b.post("/v1/chat/completions", json=chat("m", f"B{i}")))
            for i in range(2)
        ]
        assert await asyncio.to_thread(wait_until, lambda: gate.waiting == 9)
        answers = await asyncio.gather(*flood, *late)
    assert [r.status_code for r in answers] == [200] * 10
    served = [c["messages"][-1]["content"] for c in up.chats()]
    # First come, first served would put B0 and B1 last (positions 8 and 9); taking turns,
    # the second tenant is served every other time the slot frees up.
    assert [i for i, who in enumerate(served) if who.startswith("B")] == [2, 4], served
    assert sorted(who for who in served if who.startswith("A")) == [f"A{i}" for i in range(8)]


async def test_without_a_limit_nothing_waits(routed: Routed, upstream: StartUpstream) -> None:
    up = upstream("openai")
    up.fake.behaviour.stall_seconds = 0.5
    server = routed(backend("up", up) + model("m", backend="up", target="t"))
    async with client(server) as http:
        answers = await asyncio.gather(
            *(http.post("/v1/chat/completions", json=chat("m", f"q{i}")) for i in range(6))
        )
    assert [r.status_code for r in answers] == [200] * 6
    assert server.app.state.registry.gates["up"].waiting == 0
