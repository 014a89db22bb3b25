"""Passwords, tokens and keys never appear in logs, nor in any error answer."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import httpx
import pytest

from tests.auth.helpers import (
    OWNER_EMAIL,
    OWNER_PASSWORD,
    PASSWORD,
    DeviceKey,
    Running,
    Session,
    bearer,
    challenge,
    chat_body,
    create_key,
    create_user,
    key_header,
    log_in,
    refresh,
    register_device,
    secrets_in,
    tokens_of,
)
from tests.servers import LiveServer
from universal_ai_tools.settings import Settings

WRONG_PASSWORD = "wrong-password-Zq81x"


@dataclass
class Recorder:
    """The secrets used or issued in a flow, and every error answer the server gave."""

    http: httpx.AsyncClient
    secrets: list[str] = field(default_factory=lambda: [OWNER_PASSWORD, PASSWORD, WRONG_PASSWORD])
    errors: list[str] = field(default_factory=list)

    async def send(self, method: str, path: str, **options: object) -> httpx.Response:
        response = await self.http.request(method, path, **options)  # type: ignore[arg-type]
        if not response.is_success:
            self.errors.append(f"{response.status_code} {response.headers} {response.text}")
        return response

    def session(self, response: httpx.Response) -> Session:
        session = tokens_of(response)
        self.secrets += [session.access, session.refresh]
        return session


async def full_flow(record: Recorder) -> None:
    """Failed login, login, refresh, refresh reuse, keys, devices, logout."""
    send = record.send
    wrong = {"email": OWNER_EMAIL, "password": WRONG_PASSWORD}
    assert (await send("POST", "/auth/login", json=wrong)).status_code == 401
    right = {"email": OWNER_EMAIL, "password": OWNER_PASSWORD}
    owner = record.session(await send("POST", "/auth/login", json=right))
    await create_user(record.http, owner, "member@example.com")
    member = record.session(await send("POST", "/auth/login", json={**right, **_member()}))
    renewed = record.session(await refresh(record.http, member.refresh))
    for token in (member.refresh, renewed.refresh):  # reuse, then the revoked family
        response = await send("POST", "/auth/refresh", json={"refresh_token": token})
        assert response.status_code == 401
    assert (await send("GET", "/auth/me", headers=renewed.headers)).status_code == 401
    assert (await send("POST", "/auth/refresh", json={"refresh_token": owner.access})).is_error
    assert (await send("GET", "/auth/me", headers=bearer(owner.refresh))).status_code == 401
    # An API key: created, used, misused, revoked, used again.
    key = await create_key(record.http, owner.headers, models=["smollm2"])
    record.secrets.append(key["key"])
    assert (await send("GET", "/v1/models", headers=key_header(key["key"]))).status_code == 200
    body = chat_body("nope")
    assert (
        await send("POST", "/v1/chat/completions", json=body, headers=bearer(key["key"]))
    ).is_error
    assert (
        await send("POST", "/api/show", json={"model": "x"}, headers=bearer(key["key"]))
    ).is_error
    assert (
        await send("DELETE", f"/api-keys/{key['id']}", headers=owner.headers)
    ).status_code == 204
    assert (await send("GET", "/api/tags", headers=key_header(key["key"]))).status_code == 401
    assert (await send("GET", "/v1/models", headers=bearer(key["key"]))).status_code == 401
    # A device: registered, logged in, a bad signature, revoked.
    device_key = DeviceKey()
    device = await register_device(record.http, owner, device_key)
    nonce = await challenge(record.http, device["id"])
    signature = device_key.sign(nonce)
    record.secrets += [nonce, signature]
    attempt = {"device_id": device["id"], "challenge": nonce, "signature": signature}
    device_session = record.session(await send("POST", "/auth/device/login", json=attempt))
    assert (await send("POST", "/auth/device/login", json=attempt)).status_code == 401
    nonce = await challenge(record.http, device["id"])
    forged = DeviceKey().sign(nonce)
    record.secrets += [nonce, forged]
    attempt = {"device_id": device["id"], "challenge": nonce, "signature": forged}
    assert (await send("POST", "/auth/device/login", json=attempt)).status_code == 401
    path = f"/devices/{device['id']}"
    assert (await send("DELETE", path, headers=owner.headers)).status_code == 204
    assert (await send("GET", "/auth/me", headers=device_session.headers)).status_code == 401
    refreshed = await send("POST", "/auth/refresh", json={"refresh_token": device_session.refresh})
    assert refreshed.status_code == 401
    # Log out; the ended session's tokens are refused.
    logout = {"refresh_token": owner.refresh}
    assert (await send("POST", "/auth/logout", json=logout)).status_code == 204
    assert (await send("GET", "/auth/me", headers=owner.headers)).status_code == 401
    assert (await send("POST", "/auth/refresh", json=logout)).status_code == 401
    # The audit log holds no secret either.
    admin = record.session(await send("POST", "/auth/login", json=right))
    entries = await send("GET", "/audit", params={"limit": "500"}, headers=admin.headers)
    assert entries.status_code == 200 and len(entries.json()["data"]) >= 10
    record.errors.append(entries.text)


def _member() -> dict[str, str]:
    return {"email": "member@example.com", "password": PASSWORD}


@contextmanager
def every_logger_at_debug(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """DEBUG on every logger; the ones that do not propagate (uvicorn's) report to caplog."""
    caplog.set_level(logging.DEBUG)
    hooked = []
    for name in list(logging.root.manager.loggerDict):
        logger = logging.getLogger(name)
        caplog.set_level(logging.DEBUG, logger=name)
        if not logger.propagate:
            logger.addHandler(caplog.handler)
            hooked.append(logger)
    try:
        yield
    finally:
        for logger in hooked:
            logger.removeHandler(caplog.handler)


def _logged(caplog: pytest.LogCaptureFixture) -> str:
    parts = [caplog.text]
    for record in caplog.records:
        parts += [record.getMessage(), repr(record.__dict__)]
    return "\n".join(parts)


def _assert_nothing_leaked(record: Recorder, logged: str) -> None:
    """Failures name the secret shortened: the failure report itself leaks nothing."""
    assert len(record.secrets) >= 15
    assert logged
    in_logs = secrets_in(logged, record.secrets)
    assert not in_logs, "a secret was logged"
    in_answers = [secrets_in(error, record.secrets) for error in record.errors]
    leaked = [found for found in in_answers if found]
    assert not leaked, "a secret in an error answer"


async def test_no_secret_reaches_the_logs_or_error_answers(
    running: Running, caplog: pytest.LogCaptureFixture
) -> None:
    record = Recorder(running.http)
    with every_logger_at_debug(caplog):
        await full_flow(record)
    assert any(r.name.startswith("sqlalchemy") for r in caplog.records)  # really at DEBUG
    _assert_nothing_leaked(record, _logged(caplog))


async def test_no_secret_reaches_a_live_servers_output(
    serve: Callable[[Settings], LiveServer],
    settings: Settings,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    server = serve(settings)
    with every_logger_at_debug(caplog):
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
            record = Recorder(http)
            record.secrets.append(server.key)
            await full_flow(record)
            # Credentials sent in odd places of a request are not echoed back either.
            junk = await record.send(
                "GET", "/auth/me", headers={"Authorization": "Token " + OWNER_PASSWORD}
            )
            assert junk.status_code == 401
            await log_in(http, OWNER_EMAIL, OWNER_PASSWORD)
    out, err = capfd.readouterr()
    logged = _logged(caplog)
    assert any(r.name == "uvicorn.access" for r in caplog.records)  # the access log ran
    _assert_nothing_leaked(record, "\n".join([logged, out, err]))
