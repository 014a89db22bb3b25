"""Messages sent back to back, by many senders at once, are stored in batches (group
commit): still one `seq` each, gap-free, in each sender's order, every resend stored once,
and nothing acknowledged before it is stored."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from tests.conftest import SettingsFactory
from tests.realtime.helpers import api, make_user, ws_client
from tests.servers import LiveServer
from universal_ai_tools.settings import Settings

Serve = Callable[[Settings], LiveServer]


def test_bursts_from_many_senders_are_numbered_once_and_in_order(
    make_settings: SettingsFactory, serve: Serve
) -> None:
    settings = make_settings(realtime={"messages_per_second": 10_000, "burst": 10_000})
    server = serve(settings)
    users = [make_user(server, f"user{index}@example.com") for index in range(4)]
    owner = users[0][1]
    room = api(server, owner).post(
        "/rooms", json={"name": "burst", "members": [user_id for user_id, _ in users[1:]]}
    ).json()["id"]
    per_sender = 60

    async def scenario() -> None:
        clients = [await ws_client(server, token) for _, token in users]
        watcher = await ws_client(server, owner)
        for client in [*clients, watcher]:
            await client.join(room)

        async def burst(index: int) -> None:
            for n in range(per_sender):  # back to back, never waiting for the echo
                frame = {"content": f"{index}:{n}", "client_id": f"s{index}-{n}"}
                await clients[index].send(type="message", room=room, **frame)
                if n % 10 == 0:  # a resend of the message just sent, at once
                    await clients[index].send(type="message", room=room, **frame)

        await asyncio.gather(*(burst(index) for index in range(len(clients))))
        total = per_sender * len(clients)
        received = [await watcher.until("message") for _ in range(total)]
        seqs = [event["seq"] for event in received]
        assert seqs == list(range(seqs[0], seqs[0] + total))  # gap-free, in order, once each
        for index in range(len(clients)):
            mine = [e["content"] for e in received if e["client_id"].startswith(f"s{index}-")]
            assert mine == [f"{index}:{n}" for n in range(per_sender)]  # the sender's order
        # every sender got each of its messages acknowledged, resends acknowledged again
        for index, client in enumerate(clients):
            acks = [e for e in client.seen if e.get("type") == "message"]
            while len([a for a in acks if a["client_id"].startswith(f"s{index}-")]) < (
                per_sender + per_sender // 10
            ):
                event = await client.until("message")
                acks.append(event)
            own = [a for a in acks if a["client_id"].startswith(f"s{index}-")]
            by_client_id: dict[str, set[int]] = {}
            for ack in own:
                by_client_id.setdefault(ack["client_id"], set()).add(ack["seq"])
            assert all(len(seq) == 1 for seq in by_client_id.values())  # one stored copy
        for client in [*clients, watcher]:
            await client.close()

    asyncio.run(scenario())
    history = api(server, owner).get(f"/rooms/{room}/messages", params={"limit": 500}).json()
    stored = [m for m in history["data"] if m["client_id"]]
    assert len(stored) == per_sender * len(users)  # resends stored once
    assert len({m["client_id"] for m in stored}) == len(stored)
    assert [m["seq"] for m in history["data"]] == list(range(1, len(history["data"]) + 1))
