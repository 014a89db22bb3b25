"""Rooms over real WebSockets against a real uvicorn."""

from __future__ import annotations

import asyncio

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from tests.realtime.helpers import api, make_user, owner_token, ws_client
from tests.servers import LiveServer


def test_two_users_chat_with_presence_and_typing(live_server: LiveServer) -> None:
    ann_id, ann = make_user(live_server, "ann@example.com")
    bob_id, bob = make_user(live_server, "bob@example.com")
    room = api(live_server, ann).post("/rooms", json={"name": "team", "members": [bob_id]}).json()

    async def scenario() -> None:
        a = await ws_client(live_server, ann)
        await a.join(room["id"])
        b = await ws_client(live_server, bob)
        await b.join(room["id"])
        online = await a.until("presence", user_id=bob_id)
        assert online["status"] == "online"
        await a.send(type="typing", room=room["id"])
        typing = await b.until("typing")
        assert typing["user_id"] == ann_id and typing["state"] is True
        await a.send(type="message", room=room["id"], content="hello", client_id="c1")
        await b.send(type="message", room=room["id"], content="hi ann", client_id="c2")
        seen_by_a = [await a.until("message"), await a.until("message")]
        seen_by_b = [await b.until("message"), await b.until("message")]
        assert [m["seq"] for m in seen_by_a] == [1, 2] == [m["seq"] for m in seen_by_b]
        assert [m["content"] for m in seen_by_b] == ["hello", "hi ann"]
        assert seen_by_a[0]["client_id"] == "c1" and seen_by_a[0]["user_id"] == ann_id
        assert set(seen_by_a[0]) >= {
            "type",
            "room",
            "seq",
            "id",
            "user_id",
            "content",
            "created_at",
        }
        await b.send(type="leave", room=room["id"])
        assert (await a.until("presence", user_id=bob_id))["status"] == "offline"
        await b.join(room["id"])
        assert (await a.until("presence", user_id=bob_id))["status"] == "online"
        await b.close()  # a disconnect is an offline too
        assert (await a.until("presence", user_id=bob_id))["status"] == "offline"
        await a.close()

    asyncio.run(scenario())


def test_resume_after_fifty_messages_exactly_once(live_server: LiveServer) -> None:
    _, ann = make_user(live_server, "ann@example.com")
    bob_id, bob = make_user(live_server, "bob@example.com")
    http_ann = api(live_server, ann)
    room = http_ann.post("/rooms", json={"name": "team", "members": [bob_id]}).json()["id"]

    async def scenario() -> None:
        b = await ws_client(live_server, bob)
        await b.join(room)
        http_ann.post(f"/rooms/{room}/messages", json={"content": "before", "client_id": "x0"})
        last = (await b.until("message"))["seq"]
        await b.close()
        for index in range(50):
            response = http_ann.post(
                f"/rooms/{room}/messages", json={"content": f"m{index}", "client_id": f"c{index}"}
            )
            assert response.status_code == 201
        again = http_ann.post(f"/rooms/{room}/messages", json={"content": "m0", "client_id": "c0"})
        assert again.json()["seq"] == last + 1  # a resend is stored once
        b = await ws_client(live_server, bob)
        joined = await b.join(room, since=last)
        assert joined["last_seq"] == last + 50
        replayed = [await b.until("message") for _ in range(50)]
        assert [m["seq"] for m in replayed] == list(range(last + 1, last + 51))
        assert [m["content"] for m in replayed] == [f"m{i}" for i in range(50)]
        a = await ws_client(live_server, ann)
        await a.join(room)
        await a.send(type="message", room=room, content="live", client_id="live-1")
        live = await b.until("message")
        assert (live["seq"], live["content"]) == (last + 51, "live")
        await a.send(type="message", room=room, content="live", client_id="live-1")
        ack = await a.until("message", client_id="live-1")
        ack = await a.until("message", client_id="live-1")  # the resend is acknowledged again
        assert ack["seq"] == last + 51
        history = http_ann.get(f"/rooms/{room}/messages", params={"after": last}).json()["data"]
        assert [m["seq"] for m in history] == list(range(last + 1, last + 52))
        stale = await ws_client(live_server, bob)
        await stale.send(type="join", room=room, since=last + 500)
        assert (await stale.until("reset"))["last_seq"] == last + 51
        for client in (a, b, stale):
            await client.close()

    asyncio.run(scenario())


def test_strangers_see_nothing(live_server: LiveServer) -> None:
    ann_id, ann = make_user(live_server, "ann@example.com")
    _, eve = make_user(live_server, "eve@example.com")
    bob_id, bob = make_user(live_server, "bob@example.com")
    http = api(live_server, ann)
    room = http.post("/rooms", json={"name": "private", "members": [bob_id]}).json()["id"]
    http.post(f"/rooms/{room}/messages", json={"content": "secret"})
    upload = http.post("/files", files={"file": ("notes.txt", b"top secret")}).json()
    http.post(f"/rooms/{room}/files", json={"file_id": upload["id"]})
    outsider = api(live_server, eve)
    assert outsider.get(f"/rooms/{room}").status_code == 404
    assert outsider.get(f"/rooms/{room}/messages").status_code == 404
    assert outsider.post(f"/rooms/{room}/messages", json={"content": "x"}).status_code == 404
    assert outsider.get(f"/files/{upload['id']}").status_code == 404
    assert outsider.get("/rooms").json()["data"] == []
    assert api(live_server, bob).get(f"/files/{upload['id']}").content == b"top secret"
    owner = owner_token(live_server)
    api(live_server, owner).post(
        "/orgs",
        json={"name": "Other", "owner": {"email": "o@other.test", "password": "other-pass-1"}},
    )
    from tests.realtime.helpers import token_for

    other = token_for(live_server, "o@other.test", "other-pass-1")
    assert api(live_server, other).get(f"/rooms/{room}").status_code == 404
    assert api(live_server, other).get(f"/files/{upload['id']}").status_code == 404
    added = api(live_server, other).post("/rooms", json={"name": "x", "members": [ann_id]})
    assert added.status_code == 404  # users of another organization cannot be added

    async def scenario() -> None:
        e = await ws_client(live_server, eve)
        await e.send(type="join", room=room)
        error = await e.until("error")
        assert error["code"] == "not_found"
        await e.send(type="message", room=room, content="let me in")
        assert (await e.until("error"))["code"] == "not_joined"
        b = await ws_client(live_server, bob)
        await b.join(room)
        a = await ws_client(live_server, ann)
        await a.join(room)
        removed = http.delete(f"/rooms/{room}/members/{bob_id}")
        assert removed.status_code == 204
        await b.until("removed", room=room)
        await a.send(type="message", room=room, content="after removal")
        await a.until("message", content="after removal")
        with pytest.raises(TimeoutError):
            await b.until("message", wait=1)
        assert api(live_server, bob).get(f"/rooms/{room}/messages").status_code == 404
        for client in (a, b, e):
            await client.close()
        with pytest.raises(InvalidStatus):
            await connect(f"ws://127.0.0.1:{live_server.port}/ws?token=forged")
        unauthenticated = await connect(f"ws://127.0.0.1:{live_server.port}/ws")
        await unauthenticated.send('{"type": "join", "room": "x"}')
        with pytest.raises(ConnectionClosed):
            while True:
                await asyncio.wait_for(unauthenticated.recv(), 10)
        assert unauthenticated.close_code == 1008

    asyncio.run(scenario())


def test_bad_frames_and_floods(live_server: LiveServer) -> None:
    _, ann = make_user(live_server, "ann@example.com")
    bob_id, bob = make_user(live_server, "bob@example.com")
    room = (
        api(live_server, ann).post("/rooms", json={"name": "r", "members": [bob_id]}).json()["id"]
    )

    async def scenario() -> None:
        a = await ws_client(live_server, ann)
        await a.join(room)
        await a.socket.send("this is not json")
        assert (await a.until("error"))["code"] == "invalid_json"
        await a.send(type="teleport")
        assert (await a.until("error"))["code"] == "unknown_type"
        await a.send(type="message", room=room, content="")
        assert (await a.until("error"))["code"] == "invalid_message"
        await a.send(type="message", room=room, content="nul \x00 byte", client_id="nul")
        assert (await a.until("error"))["code"] == "invalid_request"  # on every database
        for index in range(80):
            await a.send(type="ping", n=index)
        kinds = [(await a.next()) for _ in range(80)]
        codes = {event.get("code") or event["type"] for event in kinds}
        assert {"rate_limited", "pong"} <= codes
        with pytest.raises(ConnectionClosed):  # a flood that goes on is cut off
            for index in range(400):
                await a.send(type="ping", n=index)
            while True:
                await a.next(10)
        assert a.socket.close_code == 1008
        b = await ws_client(live_server, bob)
        await b.join(room)
        await b.send(type="message", room=room, content="x" * 1_000_000)
        with pytest.raises(ConnectionClosed):
            while True:
                await b.next(10)
        assert b.socket.close_code == 1009
        c = await ws_client(live_server, bob)  # the server is up for everyone else
        await c.join(room)
        await c.send(type="message", room=room, content="still here")
        assert (await c.until("message"))["content"] == "still here"
        await c.close()

    asyncio.run(scenario())
