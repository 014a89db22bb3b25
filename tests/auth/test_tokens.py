"""Access tokens, refresh tokens and API keys: every way to misuse one is refused."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from typing import Any

import httpx
import jwt
import orjson
import pytest
import pytest_asyncio
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.auth.helpers import (
    OWNER_EMAIL,
    OWNER_PASSWORD,
    DeviceKey,
    Running,
    Session,
    assert_error_shape,
    b64url,
    bearer,
    claims_of,
    create_key,
    device_login,
    flip_middle,
    isolated_settings,
    key_header,
    log_in,
    me,
    raw_jwt,
    refresh,
    register_device,
    start_app,
    tokens_of,
    user_session,
    valid_claims,
)
from tests.backends import Backends

RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
RSA_PRIVATE_PEM = RSA_KEY.private_bytes(
    serialization.Encoding.PEM,
    serialization.PrivateFormat.PKCS8,
    serialization.NoEncryption(),
)
RSA_PUBLIC_PEM = RSA_KEY.public_key().public_bytes(
    serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
)
HS256 = {"alg": "HS256", "typ": "JWT"}
ROUNDS = 10

Forge = Callable[[bytes, dict[str, Any]], str]


def _signed(claims: dict[str, Any], secret: bytes) -> str:
    return jwt.encode(claims, secret, algorithm="HS256")


FORGERIES: dict[str, Forge] = {
    "alg none": lambda secret, claims: raw_jwt({"alg": "none", "typ": "JWT"}, claims, None),
    "alg None, signed anyway": lambda secret, claims: raw_jwt(
        {"alg": "None", "typ": "JWT"}, claims, secret
    ),
    "RS256 with a private key": lambda secret, claims: jwt.encode(
        claims, RSA_PRIVATE_PEM, algorithm="RS256"
    ),
    "HS256 with the public key as secret": lambda secret, claims: raw_jwt(
        HS256, claims, RSA_PUBLIC_PEM
    ),
    "HS512 with the real secret": lambda secret, claims: jwt.encode(
        claims, secret, algorithm="HS512"
    ),
    "another secret": lambda secret, claims: _signed(claims, b"x" * 48),
    "wrong aud": lambda secret, claims: _signed({**claims, "aud": "someone-else"}, secret),
    "no aud": lambda secret, claims: _signed(_without(claims, "aud"), secret),
    "wrong iss": lambda secret, claims: _signed({**claims, "iss": "evil"}, secret),
    "no iss": lambda secret, claims: _signed(_without(claims, "iss"), secret),
    "expired": lambda secret, claims: _signed(
        {**claims, "iat": int(time.time()) - 3600, "exp": int(time.time()) - 60}, secret
    ),
    "typ refresh": lambda secret, claims: _signed({**claims, "typ": "refresh"}, secret),
    "no typ": lambda secret, claims: _signed(_without(claims, "typ"), secret),
    "no exp": lambda secret, claims: _signed(_without(claims, "exp"), secret),
    "no sub": lambda secret, claims: _signed(_without(claims, "sub"), secret),
    "unknown user": lambda secret, claims: _signed({**claims, "sub": "0" * 32}, secret),
}


def _without(claims: dict[str, Any], name: str) -> dict[str, Any]:
    return {key: value for key, value in claims.items() if key != name}


async def _status(http: httpx.AsyncClient, credential: str) -> int:
    return (await http.get("/auth/me", headers=bearer(credential))).status_code


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def shared(
    tmp_path_factory: pytest.TempPathFactory, test_backends: Backends | None
) -> AsyncIterator[tuple[Running, Session]]:
    """One app for the forgeries: they change nothing, and each app start hashes passwords."""
    settings = isolated_settings(tmp_path_factory.mktemp("forgeries"), test_backends)
    async with AsyncExitStack() as stack:
        running = await start_app(settings, stack)
        yield running, await log_in(running.http, OWNER_EMAIL, OWNER_PASSWORD)


@pytest.mark.asyncio(loop_scope="module")
@pytest.mark.parametrize("forgery", list(FORGERIES))
async def test_forged_access_tokens_are_refused(
    shared: tuple[Running, Session], forgery: str
) -> None:
    running, owner = shared
    profile = await me(running.http, owner.headers)
    claims = valid_claims(profile, sid=claims_of(owner.access)["sid"])
    # The control: these very claims, signed as the server signs, are accepted.
    assert await _status(running.http, _signed(claims, running.secret())) == 200
    token = FORGERIES[forgery](running.secret(), claims)
    response = await running.http.get("/auth/me", headers=bearer(token))
    assert_error_shape(response, 401, "/auth/me")
    assert (await running.http.get("/api/tags", headers=bearer(token))).status_code == 401


async def test_tampered_tokens_are_refused(running: Running, owner: Session) -> None:
    header, payload, signature = owner.access.split(".")
    assert await _status(running.http, owner.access) == 200
    elevated = {**claims_of(owner.access), "role": "owner", "org": "0" * 32}
    tampered = [
        f"{header}.{flip_middle(payload)}.{signature}",
        f"{header}.{payload}.{flip_middle(signature)}",
        f"{header}.{b64url(orjson.dumps(elevated))}.{signature}",  # claims swapped
        f"{header}.{payload}.",
        f"{header}.{payload}",
        f"{header}.{payload}.{signature}x",
        f"{flip_middle(header)}.{payload}.{signature}",
    ]
    for token in tampered:
        assert await _status(running.http, token) == 401, token


async def test_refresh_and_access_tokens_are_not_interchangeable(
    running: Running, owner: Session
) -> None:
    # A refresh token presented as an access token (header and x-api-key).
    response = await running.http.get("/auth/me", headers=bearer(owner.refresh))
    assert_error_shape(response, 401, "/auth/me")
    assert (await running.http.get("/api/tags", headers=key_header(owner.refresh))).status_code == (
        401
    )
    # An access token presented as a refresh token issues nothing.
    response = await refresh(running.http, owner.access)
    assert response.status_code in {400, 401}, response.text
    assert "access_token" not in response.text
    # Both still work for what they are.
    assert await _status(running.http, owner.access) == 200
    assert (await refresh(running.http, owner.refresh)).status_code == 200


async def test_a_deleted_users_credentials_stop_working(running: Running, owner: Session) -> None:
    user, session = await user_session(running.http, owner, "gone@example.com")
    key = await create_key(running.http, session.headers)
    assert await _status(running.http, session.access) == 200
    response = await running.http.delete(f"/users/{user['id']}", headers=owner.headers)
    assert response.status_code == 204, response.text
    assert await _status(running.http, session.access) == 401
    assert await _status(running.http, key["key"]) == 401
    assert (await refresh(running.http, session.refresh)).status_code == 401


async def test_a_suspended_users_credentials_stop_working(running: Running, owner: Session) -> None:
    user, session = await user_session(running.http, owner, "paused@example.com")
    key = await create_key(running.http, session.headers)
    assert await _status(running.http, key["key"]) == 200
    response = await running.http.patch(
        f"/users/{user['id']}", json={"suspended": True}, headers=owner.headers
    )
    assert response.status_code == 200 and response.json()["suspended"] is True
    assert await _status(running.http, session.access) == 401
    assert await _status(running.http, key["key"]) == 401
    response = await running.http.get("/v1/models", headers=key_header(key["key"]))
    assert_error_shape(response, 401, "/v1/models")
    assert (await refresh(running.http, session.refresh)).status_code == 401
    login = {"email": "paused@example.com", "password": "member-password-123"}
    assert (await running.http.post("/auth/login", json=login)).status_code == 401
    # Lifting the suspension gives the key back (it was never revoked).
    response = await running.http.patch(
        f"/users/{user['id']}", json={"suspended": False}, headers=owner.headers
    )
    assert response.status_code == 200
    assert await _status(running.http, key["key"]) == 200


async def test_a_reused_refresh_token_ends_the_whole_session(
    running: Running, owner: Session
) -> None:
    first = owner
    second = tokens_of(await refresh(running.http, first.refresh))
    assert await _status(running.http, second.access) == 200
    # The spent token comes back (stolen): refused, and the whole family dies with it.
    assert (await refresh(running.http, first.refresh)).status_code == 401
    assert (await refresh(running.http, second.refresh)).status_code == 401
    assert await _status(running.http, second.access) == 401
    assert await _status(running.http, first.access) == 401
    # Another session of the same user is untouched.
    other = await log_in(running.http, OWNER_EMAIL, OWNER_PASSWORD)
    assert await _status(running.http, other.access) == 200


@pytest.mark.parametrize("concurrent", [2, 5])
async def test_concurrent_refreshes_leave_at_most_one_live_session(
    running: Running, owner: Session, concurrent: int
) -> None:
    http = running.http
    key = DeviceKey()
    device = await register_device(http, owner, key)
    for _ in range(ROUNDS):
        session = await device_login(http, device["id"], key)  # a new session, no hashing
        answers = await asyncio.gather(*(refresh(http, session.refresh) for _ in range(concurrent)))
        assert {answer.status_code for answer in answers} <= {200, 401}, answers
        issued = [tokens_of(answer) for answer in answers if answer.status_code == 200]
        assert issued, "one of the refreshes wins"
        live = [pair for pair in issued if await _status(http, pair.access) == 200]
        assert len(live) <= 1
        working = 0
        for pair in issued:
            answer = await refresh(http, pair.refresh)
            if answer.status_code == 200:
                working += 1
                renewed = tokens_of(answer)
                # A refresh that succeeds gives a session that works.
                assert await _status(http, renewed.access) == 200
                live.append(renewed)
        assert working <= 1
        assert len([pair for pair in live if await _status(http, pair.access) == 200]) <= 1


async def test_logging_out_ends_the_session(running: Running, owner: Session) -> None:
    http = running.http
    other = await log_in(http, OWNER_EMAIL, OWNER_PASSWORD)
    response = await http.post("/auth/logout", json={"refresh_token": owner.refresh})
    assert response.status_code == 204
    assert await _status(http, owner.access) == 401
    assert (await refresh(http, owner.refresh)).status_code == 401
    # Logging out with the access token alone ends its session too.
    response = await http.post("/auth/logout", headers=other.headers)
    assert response.status_code == 204
    assert await _status(http, other.access) == 401
    assert (await refresh(http, other.refresh)).status_code == 401


async def test_a_revoked_api_key_stops_working(running: Running, owner: Session) -> None:
    key = await create_key(running.http, owner.headers)
    other = await create_key(running.http, owner.headers, name="other")
    assert await _status(running.http, key["key"]) == 200
    response = await running.http.delete(f"/api-keys/{key['id']}", headers=owner.headers)
    assert response.status_code == 204
    for headers in (bearer(key["key"]), key_header(key["key"])):
        assert_error_shape(await running.http.get("/auth/me", headers=headers), 401, "/auth/me")
        assert_error_shape(await running.http.get("/api/tags", headers=headers), 401, "/api/tags")
    listed = await running.http.get(f"/api-keys/{key['id']}", headers=owner.headers)
    assert listed.json()["revoked_at"] is not None
    assert await _status(running.http, other["key"]) == 200


async def test_a_demoted_admin_loses_admin_routes_at_once(running: Running, owner: Session) -> None:
    user, admin = await user_session(running.http, owner, "admin@example.com", role="admin")
    key = await create_key(running.http, admin.headers)
    for headers in (admin.headers, key_header(key["key"])):
        assert (await running.http.get("/users", headers=headers)).status_code == 200
        assert (await running.http.get("/audit", headers=headers)).status_code == 200
    response = await running.http.patch(
        f"/users/{user['id']}", json={"role": "member"}, headers=owner.headers
    )
    assert response.status_code == 200 and response.json()["role"] == "member"
    assert claims_of(admin.access)["role"] == "admin"  # the same token, still saying admin
    for headers in (admin.headers, key_header(key["key"])):
        response = await running.http.get("/users", headers=headers)
        assert_error_shape(response, 403, "/users")
        assert (await running.http.get("/audit", headers=headers)).status_code == 403
        body = {"email": "x@example.com", "password": "x-password-123"}
        assert (await running.http.post("/users", json=body, headers=headers)).status_code == 403
    assert (await me(running.http, admin.headers))["role"] == "member"
