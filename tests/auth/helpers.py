"""Shared helpers of the identity tests: sessions, forged tokens, devices, routes, the clock."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import secrets
import time
import uuid
from collections.abc import Iterator
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import jwt
import orjson
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi import FastAPI
from fastapi.routing import APIRoute

from tests.backends import Backends
from tests.conftest import FAST_HASHING
from tests.conftest import OWNER_EMAIL as OWNER_EMAIL
from tests.conftest import OWNER_PASSWORD as OWNER_PASSWORD
from universal_ai_tools.app import create_app
from universal_ai_tools.limits.memory import MemoryCounterStore
from universal_ai_tools.settings import Settings, load_settings

PASSWORD = "member-password-123"
ISSUER = "universal-ai-tools"
AUDIENCE = "uait"
CHAT_PATH = "/v1/chat/completions"


def chat_body(model: str = "smollm2") -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 1}


# --- the running app ----------------------------------------------------------------------


@dataclass
class Running:
    """A real app, lifespan started, reached over ASGI; `http` carries no credentials."""

    app: FastAPI
    settings: Settings
    http: httpx.AsyncClient
    stack: AsyncExitStack

    async def client_from(self, address: str) -> httpx.AsyncClient:
        """Another client of the same app that connects from `address`."""
        transport = httpx.ASGITransport(app=self.app, client=(address, 40_000))
        http = httpx.AsyncClient(transport=transport, base_url="http://testserver")
        return await self.stack.enter_async_context(http)

    def secret(self) -> bytes:
        """The signing secret the server really uses (configured, or generated on disk)."""
        if self.settings.jwt_secret is not None:
            return self.settings.jwt_secret.encode()
        return (self.settings.data_dir / "jwt_secret").read_text().strip().encode()


async def start_app(settings: Settings, stack: AsyncExitStack) -> Running:
    """The real app for `settings`, lifespan started; `stack` stops it."""
    app = create_app(settings)
    await stack.enter_async_context(app.router.lifespan_context(app))
    transport = httpx.ASGITransport(app=app)
    http = httpx.AsyncClient(transport=transport, base_url="http://testserver")
    await stack.enter_async_context(http)
    return Running(app=app, settings=settings, http=http, stack=stack)


def isolated_settings(directory: Path, backends: Backends | None, **overrides: Any) -> Settings:
    """Settings like `make_settings` builds, for fixtures wider than one test."""
    with pytest.MonkeyPatch.context() as patch:
        for name in list(os.environ):
            if name.startswith("UAIT_"):
                patch.delenv(name)
        for name, value in FAST_HASHING.items():
            patch.setenv(name, value)
        patch.chdir(directory)
        overrides.setdefault("data_dir", directory / "data")
        overrides.setdefault("embedded", {"threads": 1})
        overrides.setdefault("admin_email", OWNER_EMAIL)
        overrides.setdefault("admin_password", OWNER_PASSWORD)
        if backends is not None:
            for name, value in backends.overrides(directory / "data").items():
                overrides.setdefault(name, value)
        return load_settings(**overrides)


# --- sessions and objects -----------------------------------------------------------------


@dataclass(frozen=True)
class Session:
    access: str
    refresh: str

    @property
    def headers(self) -> dict[str, str]:
        return bearer(self.access)


def bearer(credential: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {credential}"}


def key_header(key: str) -> dict[str, str]:
    return {"x-api-key": key}


def tokens_of(response: httpx.Response) -> Session:
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "bearer" and body["expires_in"] > 0
    return Session(access=body["access_token"], refresh=body["refresh_token"])


async def log_in(http: httpx.AsyncClient, email: str, password: str = PASSWORD) -> Session:
    return tokens_of(await http.post("/auth/login", json={"email": email, "password": password}))


async def refresh(http: httpx.AsyncClient, token: str) -> httpx.Response:
    return await http.post("/auth/refresh", json={"refresh_token": token})


async def me(http: httpx.AsyncClient, credential: dict[str, str]) -> dict[str, Any]:
    response = await http.get("/auth/me", headers=credential)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def create_user(
    http: httpx.AsyncClient,
    admin: Session,
    email: str,
    role: str = "member",
    password: str = PASSWORD,
) -> dict[str, Any]:
    response = await http.post(
        "/users",
        json={"email": email, "password": password, "role": role},
        headers=admin.headers,
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def user_session(
    http: httpx.AsyncClient, admin: Session, email: str, role: str = "member"
) -> tuple[dict[str, Any], Session]:
    user = await create_user(http, admin, email, role)
    return user, await log_in(http, email)


async def create_org(
    http: httpx.AsyncClient, instance_admin: Session, name: str, email: str
) -> dict[str, Any]:
    response = await http.post(
        "/orgs",
        json={"name": name, "owner": {"email": email, "password": PASSWORD}},
        headers=instance_admin.headers,
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def create_key(
    http: httpx.AsyncClient, credential: dict[str, str], name: str = "key", **fields: Any
) -> dict[str, Any]:
    response = await http.post("/api-keys", json={"name": name, **fields}, headers=credential)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    assert body["key"].startswith("uait_")
    return body


async def audit(
    http: httpx.AsyncClient, admin: Session, action: str, **query: str
) -> list[dict[str, Any]]:
    response = await http.get(
        "/audit", params={"action": action, "limit": "500", **query}, headers=admin.headers
    )
    assert response.status_code == 200, response.text
    entries: list[dict[str, Any]] = response.json()["data"]
    assert all(entry["action"] == action for entry in entries)
    return entries


# --- devices ------------------------------------------------------------------------------


@dataclass
class DeviceKey:
    """An Ed25519 key pair, as a device holds it."""

    private: Ed25519PrivateKey = field(default_factory=Ed25519PrivateKey.generate)

    @property
    def public_b64(self) -> str:
        raw = self.private.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        return base64.b64encode(raw).decode()

    def sign(self, challenge: str) -> str:
        return base64.b64encode(self.private.sign(challenge.encode())).decode()


async def register_device(
    http: httpx.AsyncClient, owner: Session, key: DeviceKey, name: str = "laptop"
) -> dict[str, Any]:
    response = await http.post(
        "/devices",
        json={"name": name, "kind": "laptop", "public_key": key.public_b64},
        headers=owner.headers,
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def challenge(http: httpx.AsyncClient, device_id: str) -> str:
    response = await http.post("/auth/device/challenge", json={"device_id": device_id})
    assert response.status_code == 200, response.text
    value: str = response.json()["challenge"]
    return value


async def device_login(http: httpx.AsyncClient, device_id: str, key: DeviceKey) -> Session:
    nonce = await challenge(http, device_id)
    body = {"device_id": device_id, "challenge": nonce, "signature": key.sign(nonce)}
    return tokens_of(await http.post("/auth/device/login", json=body))


# --- tokens -------------------------------------------------------------------------------


def claims_of(token: str) -> dict[str, Any]:
    """The claims of a JWT, unverified (the tests inspect what the server issued)."""
    claims: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    return claims


def valid_claims(user: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    """Claims the server would accept for `user`; an override of None removes a claim."""
    now = int(time.time())
    claims: dict[str, Any] = {
        "sub": user["id"],
        "org": user["org_id"],
        "role": user["role"],
        "iat": now,
        "exp": now + 300,
        "jti": secrets.token_hex(16),
        "typ": "access",
        "iss": ISSUER,
        "aud": AUDIENCE,
    }
    claims.update(overrides)
    return {name: value for name, value in claims.items() if value is not None}


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def raw_jwt(header: dict[str, Any], claims: dict[str, Any], hmac_key: bytes | None) -> str:
    """A JWT built by hand: HS256 over any key bytes (PyJWT refuses PEM keys), or unsigned."""
    signing_input = f"{b64url(orjson.dumps(header))}.{b64url(orjson.dumps(claims))}"
    if hmac_key is None:
        return signing_input + "."
    digest = hmac.new(hmac_key, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64url(digest)}"


def flip_middle(segment: str) -> str:
    """Change one character in the middle of a base64url segment (never a padding bit)."""
    middle = len(segment) // 2
    replacement = "A" if segment[middle] != "A" else "B"
    return segment[:middle] + replacement + segment[middle + 1 :]


# --- routes -------------------------------------------------------------------------------


def http_routes(app: FastAPI) -> list[tuple[str, str]]:
    """(method, path template) of every HTTP route of the app, included routers too."""
    found: set[tuple[str, str]] = set()
    try:
        from fastapi.routing import iter_route_contexts  # FastAPI with lazy included routers
    except ImportError:  # pragma: no cover - older FastAPI flattens routes itself
        for route in app.routes:
            if isinstance(route, APIRoute):
                found.update((method, route.path_format) for method in route.methods or ())
    else:
        for context in iter_route_contexts(app.routes):
            path, methods = context.path_format, context.methods
            if isinstance(context.original_route, APIRoute) and path and methods:
                found.update((method, path) for method in methods)
    return sorted(found, key=lambda item: (item[1], item[0]))


def fill_path(template: str, values: dict[str, str] | None = None) -> str:
    """The template's parameters filled from `values`, else with random ids."""
    chosen = values or {}
    return re.sub(
        r"\{([^}:]+)(?::[^}]*)?\}",
        lambda match: chosen.get(match.group(1), uuid.uuid4().hex),
        template,
    )


def path_params(template: str) -> list[str]:
    return re.findall(r"\{([^}:]+)(?::[^}]*)?\}", template)


def assert_error_shape(response: httpx.Response, status: int, path: str) -> str:
    """The error body of the route family: `/api/*` is Ollama's, the rest OpenAI's."""
    assert response.status_code == status, (path, response.status_code, response.text)
    body = response.json()
    if path.startswith("/api/"):
        assert set(body) - {"trace_id"} == {"error"} and isinstance(body["error"], str), (
            path,
            body,
        )
        return str(body["error"])
    assert set(body) == {"error"}, (path, body)
    assert set(body["error"]) - {"trace_id"} == {"message", "type", "code"}, (path, body)
    assert all(isinstance(value, str) and value for value in body["error"].values()), body
    return str(body["error"]["message"])


# --- the counters' clock ------------------------------------------------------------------


class FakeClock:
    """A clock for the app's counter store: starts at the real time, moves when told."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds

    def to_next_utc_day(self) -> None:
        self.now = (self.now // 86_400 + 1) * 86_400 + 1


def install_clock(app: FastAPI) -> FakeClock:
    """Point the app's in-process counter store at a `FakeClock`.

    There is no public hook for this yet: the store is reached through the rate
    limiter's `_store` and its clock is the store's `_clock` attribute.
    """
    store = app.state.identity.rate_limiter._store
    assert isinstance(store, MemoryCounterStore)
    assert store is app.state.identity.token_budget._store
    clock = FakeClock()
    store._clock = clock
    return clock


def secrets_in(text: str, values: Iterator[str] | list[str]) -> list[str]:
    """Which of `values` occur in `text` (shown shortened, so a failure leaks nothing)."""
    return [f"{value[:6]}…({len(value)} chars)" for value in values if value and value in text]
