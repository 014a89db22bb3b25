"""Agents in rooms: live answers for every member, cancel, hand-offs with a bound."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from tests.conftest import SettingsFactory
from tests.fakes import FakeOpenAI
from tests.realtime.helpers import api, make_user, ws_client
from tests.servers import LiveServer
from universal_ai_tools.settings import Settings

Serve = Callable[[Settings], LiveServer]


def agent(server: LiveServer, token: str, name: str, prompt: str, tokens: int = 12) -> str:
    created = api(server, token).post(
        "/agents",
        json={
            "name": name,
            "system_prompt": prompt,
            "model": "smollm2",
            "temperature": 0,
            "max_tokens": tokens,
        },
    )
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


def test_mention_streams_to_every_member(live_server: LiveServer) -> None:
    _, ann = make_user(live_server, "ann@example.com")
    bob_id, bob = make_user(live_server, "bob@example.com")
    cat_id, cat = make_user(live_server, "cat@example.com")
    helper = agent(live_server, ann, "helper", "You are a helpful assistant.")
    room = (
        api(live_server, ann)
        .post("/rooms", json={"name": "ai", "members": [bob_id, cat_id], "agents": [helper]})
        .json()["id"]
    )

    async def scenario() -> None:
        clients = [await ws_client(live_server, token) for token in (ann, bob, cat)]
        for client in clients:
            await client.join(room)
        await clients[1].send(type="message", room=room, content="@helper what is 2+2?")
        streams = []
        for client in clients:
            start = await client.until("ai.start", agent_id=helper)
            deltas: list[str] = []
            while True:
                event = await client.next()
                if event["type"] == "ai.delta" and event["generation_id"] == start["generation_id"]:
                    deltas.append(event["delta"])
                if event["type"] == "ai.done" and event["generation_id"] == start["generation_id"]:
                    streams.append(("".join(deltas), event["message"]))
                    break
        texts = {text for text, _ in streams}
        stored = streams[0][1]
        assert texts == {stored["content"]} and stored["content"]
        assert stored["agent_id"] == helper and stored["seq"] == 2
        history = api(live_server, cat).get(f"/rooms/{room}/messages").json()["data"]
        assert history[-1]["content"] == stored["content"]
        await clients[0].until("agent.status", status="idle")
        statuses = [e["status"] for e in clients[0].seen if e["type"] == "agent.status"]
        assert statuses[:2] == ["thinking", "generating"] and statuses[-1] == "idle"
        for client in clients:
            await client.close()

    asyncio.run(scenario())


def test_cancel_stops_the_generation(live_server: LiveServer) -> None:
    _, ann = make_user(live_server, "ann@example.com")
    writer = agent(live_server, ann, "writer", "Write very long stories.", tokens=1500)
    room = api(live_server, ann).post("/rooms", json={"name": "r", "agents": [writer]}).json()["id"]

    async def scenario() -> None:
        a = await ws_client(live_server, ann)
        await a.join(room)
        await a.send(type="message", room=room, content="@writer tell me a long story")
        start = await a.until("ai.start")
        await a.until("ai.delta")
        await a.send(type="cancel", room=room, generation_id=start["generation_id"])
        done = await a.until("ai.done", generation_id=start["generation_id"])
        assert done["cancelled"] is True
        provider = live_server.app.state.registry.providers["embedded"]
        for _ in range(400):  # the worker notices at its next token
            if provider.queue_depth == 0 and provider.generations_cancelled:
                break
            await asyncio.sleep(0.05)
        assert provider.queue_depth == 0
        assert provider.generations_cancelled >= 1
        await a.close()

    asyncio.run(scenario())


def test_two_agents_hand_off_and_stop_at_the_bound(
    make_settings: SettingsFactory, serve: Serve, fake_openai: tuple[FakeOpenAI, str]
) -> None:
    fake, url = fake_openai
    fake.behaviour.words = ["@ping ", "@pong ", "over to you"]  # every answer calls both
    toml = f"""
[[backends]]
name = "remote"
kind = "openai"
url = "{url}/v1"

[[models]]
name = "relay"
backend = "remote"
target = "relay-model"
"""
    server = serve(make_settings(toml=toml, realtime={"max_agent_turns": 3}))
    _, ann = make_user(server, "ann@example.com")
    ids = {}
    for name in ("ping", "pong"):
        created = api(server, ann).post(
            "/agents", json={"name": name, "system_prompt": "Relay.", "model": "relay"}
        )
        ids[name] = created.json()["id"]
    room = api(server, ann).post("/rooms", json={"name": "r", "agents": list(ids.values())}).json()

    async def scenario() -> None:
        a = await ws_client(server, ann)
        await a.join(room["id"])
        await a.send(type="message", room=room["id"], content="@ping start")
        done = [await a.until("ai.done") for _ in range(3)]
        assert [d["agent_id"] for d in done] == [ids["ping"], ids["pong"], ids["ping"]]
        await a.send(type="ping")
        await a.until("pong")
        for _ in range(20):  # give a fourth turn every chance to show up
            await asyncio.sleep(0.05)
        assert not [e for e in a.seen if e["type"] == "ai.start"][3:]
        history = api(server, ann).get(f"/rooms/{room['id']}/messages").json()["data"]
        assert [m.get("agent_id") for m in history] == [None, ids["ping"], ids["pong"], ids["ping"]]
        await a.close()

    asyncio.run(scenario())
