"""A small WebSocket client for the tests, and users to fill rooms with."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import orjson
from websockets.asyncio.client import ClientConnection, connect

from tests.conftest import OWNER_EMAIL, OWNER_PASSWORD
from tests.servers import LiveServer


class Client:
    def __init__(self, socket: ClientConnection) -> None:
        self.socket = socket
        self.seen: list[dict[str, Any]] = []

    async def send(self, **frame: Any) -> None:
        await self.socket.send(orjson.dumps(frame).decode())

    async def next(self, wait: float = 30) -> dict[str, Any]:
        event: dict[str, Any] = orjson.loads(await asyncio.wait_for(self.socket.recv(), wait))
        self.seen.append(event)
        return event

    async def until(self, kind: str, wait: float = 60, **match: Any) -> dict[str, Any]:
        """The next event of this type (and these fields), skipping others."""
        async with asyncio.timeout(wait):
            while True:
                event = await self.next(wait)
                if event.get("type") == kind and all(event.get(k) == v for k, v in match.items()):
                    return event

    async def join(self, room: str, since: int | None = None) -> dict[str, Any]:
        frame: dict[str, Any] = {"type": "join", "room": room}
        if since is not None:
            frame["since"] = since
        await self.send(**frame)
        return await self.until("joined", room=room)

    async def close(self) -> None:
        await self.socket.close()


async def ws_client(server: LiveServer, token: str) -> Client:
    socket = await connect(f"ws://127.0.0.1:{server.port}/ws?token={token}", max_size=None)
    client = Client(socket)
    await client.until("ready")
    return client


def token_for(server: LiveServer, email: str, password: str) -> str:
    response = httpx.post(f"{server.url}/auth/login", json={"email": email, "password": password})
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


def make_user(server: LiveServer, email: str, role: str = "member") -> tuple[str, str]:
    """A new user of the first organization: (user id, access token)."""
    owner = token_for(server, OWNER_EMAIL, OWNER_PASSWORD)
    created = httpx.post(
        f"{server.url}/users",
        json={"email": email, "password": "user-password-1", "role": role},
        headers={"Authorization": f"Bearer {owner}"},
    )
    assert created.status_code == 201, created.text
    return str(created.json()["id"]), token_for(server, email, "user-password-1")


def owner_token(server: LiveServer) -> str:
    return token_for(server, OWNER_EMAIL, OWNER_PASSWORD)


def api(server: LiveServer, token: str) -> httpx.Client:
    return httpx.Client(
        base_url=server.url, headers={"Authorization": f"Bearer {token}"}, timeout=60
    )
