"""Files are stored under generated names and served inert; slow consumers are cut off
alone; devices announce themselves."""

from __future__ import annotations

import asyncio
import base64
import os
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from tests.conftest import SettingsFactory
from tests.realtime.helpers import Client, api, make_user, ws_client
from tests.servers import LiveServer
from universal_ai_tools.settings import Settings

Serve = Callable[[Settings], LiveServer]
HOSTILE_NAMES = [
    "../../x",
    "/etc/passwd",
    "..\\\\x",
    "a\\x00b.txt",
    "<img src=x onerror=alert(1)>.html",
]


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_hostile_file_names_are_only_names(live_server: LiveServer, name: str) -> None:
    _, ann = make_user(live_server, "ann@example.com")
    http = api(live_server, ann)
    uploaded = http.post("/files", files={"file": (name, b"plain text")})
    assert uploaded.status_code == 201, uploaded.text
    body = uploaded.json()
    assert "/" not in body["name"] and "\\" not in body["name"] and "\x00" not in body["name"]
    data_dir = Path(live_server.app.state.settings.data_dir)
    stored = list((data_dir / "files").iterdir())
    assert all(len(p.name) == 32 and p.parent == data_dir / "files" for p in stored)
    assert not (data_dir.parent / "x").exists()
    downloaded = http.get(f"/files/{body['id']}")
    assert downloaded.content == b"plain text"
    assert downloaded.headers["content-disposition"].startswith("attachment;")
    assert downloaded.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize(
    ("content", "expected_type"),
    [
        (b"<html><script>alert(1)</script></html>", "text/plain; charset=utf-8"),
        (
            b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
            "text/plain; charset=utf-8",
        ),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 20, "image/png"),
        (bytes(range(256)), "application/octet-stream"),
    ],
)
def test_active_content_is_served_inert(
    live_server: LiveServer, content: bytes, expected_type: str
) -> None:
    _, ann = make_user(live_server, "ann@example.com")
    http = api(live_server, ann)
    uploaded = http.post("/files", files={"file": ("page.svg", content, "image/svg+xml")}).json()
    assert uploaded["content_type"] == expected_type  # sniffed, not the client's claim
    response = http.get(f"/files/{uploaded['id']}")
    assert response.headers["content-type"] == expected_type
    assert "sandbox" in response.headers["content-security-policy"]
    assert response.headers["content-disposition"].startswith("attachment;")


def test_size_limit_and_sharing_event(make_settings: SettingsFactory, serve: Serve) -> None:
    server = serve(make_settings(realtime={"max_file_bytes": 1024}))
    _, ann = make_user(server, "ann@example.com")
    bob_id, bob = make_user(server, "bob@example.com")
    http = api(server, ann)
    too_big = http.post("/files", files={"file": ("big.bin", b"x" * 2048)})
    assert too_big.status_code == 413
    assert list((Path(server.app.state.settings.data_dir) / "files").iterdir()) == []
    assert http.post("/files", files={"file": ("empty.txt", b"")}).status_code == 400
    room = http.post("/rooms", json={"name": "r", "members": [bob_id]}).json()["id"]
    small = http.post("/files", files={"file": ("note.txt", b"hello bob")}).json()
    assert api(server, bob).get(f"/files/{small['id']}").status_code == 404

    async def scenario() -> None:
        b = await ws_client(server, bob)
        await b.join(room)
        shared = http.post(f"/rooms/{room}/files", json={"file_id": small["id"]})
        assert shared.status_code == 201
        message = await b.until("message")  # stored in the room's history first
        assert (message["file_id"], message["content"]) == (small["id"], "note.txt")
        event = await b.until("file.shared")
        assert event["file"]["name"] == "note.txt" and event["file"]["id"] == small["id"]
        await b.close()

    asyncio.run(scenario())
    assert api(server, bob).get(f"/files/{small['id']}").content == b"hello bob"


def test_slow_consumer_is_cut_off_alone(make_settings: SettingsFactory, serve: Serve) -> None:
    settings = make_settings(realtime={"max_queue": 8, "messages_per_second": 1000, "burst": 1000})
    server = serve(settings)
    _, ann = make_user(server, "ann@example.com")
    bob_id, bob = make_user(server, "bob@example.com")
    room = api(server, ann).post("/rooms", json={"name": "r", "members": [bob_id]}).json()["id"]

    async def scenario() -> None:
        socket = await connect(
            f"ws://127.0.0.1:{server.port}/ws?token={bob}", max_size=None, max_queue=1
        )
        slow = Client(socket)
        await slow.until("ready")
        await slow.join(room)  # and from now on reads nothing
        fast = await ws_client(server, ann)
        await fast.join(room)
        received = 0

        async def read_all() -> None:
            nonlocal received
            while received < 600:
                received += (await fast.next())["type"] == "message"

        reader = asyncio.create_task(read_all())
        for index in range(600):
            noise = base64.b64encode(os.urandom(11_000)).decode()  # defeats compression
            await fast.send(type="message", room=room, content=noise, client_id=f"m{index}")
        await reader
        assert received == 600  # the fast reader got everything
        with pytest.raises(ConnectionClosed):
            while True:
                await slow.next(10)
        assert slow.socket.close_code == 4001
        await fast.send(type="ping")
        assert (await fast.until("pong"))["type"] == "pong"
        await fast.close()

    asyncio.run(scenario())


def test_device_status_reaches_its_owner(live_server: LiveServer) -> None:
    _, ann = make_user(live_server, "ann@example.com")
    key = Ed25519PrivateKey.generate()
    public = base64.b64encode(
        key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    ).decode()
    device = (
        api(live_server, ann)
        .post("/devices", json={"name": "pi", "kind": "sensor", "public_key": public})
        .json()
    )
    challenge = httpx.post(
        f"{live_server.url}/auth/device/challenge", json={"device_id": device["id"]}
    ).json()["challenge"]
    signature = base64.b64encode(key.sign(challenge.encode())).decode()
    tokens = httpx.post(
        f"{live_server.url}/auth/device/login",
        json={"device_id": device["id"], "challenge": challenge, "signature": signature},
    ).json()

    async def scenario() -> None:
        watcher = await ws_client(live_server, ann)
        gadget = await ws_client(live_server, tokens["access_token"])
        online = await watcher.until("device.status")
        assert (online["device_id"], online["status"]) == (device["id"], "online")
        await gadget.close()
        offline = await watcher.until("device.status", status="offline")
        assert offline["device_id"] == device["id"]
        await watcher.close()

    asyncio.run(scenario())
