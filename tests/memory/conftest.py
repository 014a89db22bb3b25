"""Fixtures of the memory tests: the real app with `/memories`, reached over ASGI.

Until `app.py` wires the memory feature itself, the `app` fixture includes the router
and builds the service inside the lifespan; once it is wired, the app is used as is.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.conftest import OWNER_EMAIL, OWNER_PASSWORD, login
from universal_ai_tools.app import create_app
from universal_ai_tools.auth.principal import Principal
from universal_ai_tools.memory import router as memory_router
from universal_ai_tools.memory.service import MemoryService
from universal_ai_tools.settings import Settings

PASSWORD = "member-password-123"


@dataclass
class User:
    """A logged-in user: their client headers and the principal the server sees."""

    email: str
    headers: dict[str, str]
    principal: Principal


@dataclass
class World:
    app: FastAPI
    http: httpx.AsyncClient

    @property
    def memory(self) -> MemoryService:
        service: MemoryService = self.app.state.memory
        return service

    async def user(self, email: str, password: str = PASSWORD) -> User:
        token = await login(self.http, email, password)
        principal = await self.app.state.identity.authenticator.authenticate(token)
        return User(email, {"Authorization": f"Bearer {token}"}, principal)

    async def new_user(self, admin: User, email: str, role: str = "member") -> User:
        body = {"email": email, "password": PASSWORD, "role": role}
        response = await self.http.post("/users", json=body, headers=admin.headers)
        assert response.status_code == 201, response.text
        return await self.user(email)

    async def new_org_owner(self, admin: User, name: str, email: str) -> User:
        body = {"name": name, "owner": {"email": email, "password": PASSWORD}}
        response = await self.http.post("/orgs", json=body, headers=admin.headers)
        assert response.status_code == 201, response.text
        return await self.user(email)

    async def remember(self, user: User, content: str) -> dict[str, Any]:
        response = await self.http.post(
            "/memories", json={"content": content}, headers=user.headers
        )
        assert response.status_code == 201, response.text
        body: dict[str, Any] = response.json()
        return body

    async def remember_raw(self, user: User, body: object) -> httpx.Response:
        return await self.http.post("/memories", json=body, headers=user.headers)

    async def memories(self, user: User, **params: str) -> dict[str, Any]:
        response = await self.http.get("/memories", params=params, headers=user.headers)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        if not hasattr(app.state, "memory"):  # not wired into app.py yet
            app.include_router(memory_router.router)
            app.state.memory = MemoryService(app.state.sessions, app.state.embedder)
        yield app


@pytest.fixture
async def world(app: FastAPI) -> AsyncIterator[World]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield World(app, http)


@pytest.fixture
async def owner(world: World) -> User:
    """The first owner: an instance administrator."""
    return await world.user(OWNER_EMAIL, OWNER_PASSWORD)


def assert_error(response: httpx.Response, status: int) -> str:
    """The platform error shape; returns the message."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) - {"trace_id"} == {"message", "type", "code"}, body
    assert all(isinstance(v, str) and v for v in body["error"].values()), body
    assert "Traceback" not in body["error"]["message"]
    return str(body["error"]["message"])
