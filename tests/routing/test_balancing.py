"""Done-when 6: deployments share a model's traffic by weight, the least busy first; when
one dies, its traffic moves to the others without a failed request."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import httpx

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


async def test_weights_three_to_one_and_failover_when_one_dies(
    routed: Routed, upstream: StartUpstream
) -> None:
    heavy, light = upstream("openai"), upstream("ollama")
    server = routed(
        backend("heavy", heavy)
        + backend("light", light)
        + model(
            "m",
            deployments=[
                {"backend": "heavy", "target": "big", "weight": 3},
                {"backend": "light", "target": "big", "weight": 1},
            ],
        ),
        breaker_threshold=1,  # the dead one's breaker opens at its first failure
    )
    async with client(server) as http:
        for start in range(0, 400, 8):  # 400 requests, 8 at a time
            batch = [chat("m", f"request {i}") for i in range(start, start + 8)]
            answers = await asyncio.gather(
                *(http.post("/v1/chat/completions", json=b) for b in batch)
            )
            assert [a.status_code for a in answers] == [200] * 8
        shares = len(heavy.chats()), len(light.chats())
        assert sum(shares) == 400
        assert 2.5 <= shares[0] / shares[1] <= 3.5, shares

        light.kill()
        for start in range(0, 100, 8):
            batch = [chat("m", f"after {i}") for i in range(start, start + 8)]
            answers = await asyncio.gather(
                *(http.post("/v1/chat/completions", json=b) for b in batch)
            )
            assert [a.status_code for a in answers] == [200] * 8, [a.text for a in answers]
    assert len(heavy.chats()) == shares[0] + 104  # every request after the death
    assert len(light.chats()) == shares[1]
    states = {d["backend"]: d["state"] for d in deployments(server, "m")}
    assert states == {"heavy": "closed", "light": "open"}


async def test_the_least_busy_deployment_gets_the_requests(
    routed: Routed, upstream: StartUpstream
) -> None:
    slow, fast = upstream("openai"), upstream("openai")
    slow.fake.behaviour.stall_seconds = 3.0
    server = routed(
        backend("slow", slow)
        + backend("fast", fast)
        + model(
            "m",
            deployments=[{"backend": "slow", "target": "t"}, {"backend": "fast", "target": "t"}],
        )
    )
    tasks: list[asyncio.Task[httpx.Response]] = []
    async with client(server) as http:
        for wave in range(10):  # 10 waves of 4 requests; a wave starts when the last arrived
            tasks += [
                asyncio.create_task(http.post("/v1/chat/completions", json=chat("m", f"q{i}")))
                for i in range(4)
            ]
            arrived = 4 * (wave + 1)
            assert await asyncio.to_thread(
                wait_until, lambda n=arrived: len(slow.chats()) + len(fast.chats()) == n
            )
        answers = await asyncio.gather(*tasks)
    assert [a.status_code for a in answers] == [200] * 40
    # Equal weights: round-robin alone would send 20 to each. But a deployment more than one
    # request busier than the least busy one is passed over, so the slow one only gets a
    # request while the fast one has some in flight too: a few, far under half its share.
    shares = len(slow.chats()), len(fast.chats())
    assert shares[0] < 10 and sum(shares) == 40, shares
