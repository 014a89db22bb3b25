"""Every route but the public few needs credentials (the routes are enumerated from the app)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.auth.helpers import (
    Running,
    assert_error_shape,
    chat_body,
    fill_path,
    http_routes,
)

PUBLIC = {
    ("GET", "/health"),
    ("GET", "/ready"),
    ("POST", "/auth/login"),
    ("POST", "/auth/refresh"),
    ("POST", "/auth/logout"),
    ("POST", "/auth/device/challenge"),
    ("POST", "/auth/device/login"),
    ("POST", "/auth/register"),
    ("GET", "/"),  # the web app's static files (tests/web)
    ("GET", "/ui/{name}"),
}
# A body every model route accepts, so that the answer can only be about the credentials.
WELL_FORMED: dict[str, Any] = {**chat_body(), "prompt": "hi", "input": "hi", "name": "x"}
# Known bug (outside tests/auth): these routes declare their `json_body` dependency before
# the principal, so a request without credentials but with a bad body gets the 400.
BODY_BEFORE_CREDENTIALS = {
    ("POST", "/v1/chat/completions"),
    ("POST", "/v1/embeddings"),
    ("POST", "/api/chat"),
    ("POST", "/api/generate"),
    ("POST", "/api/show"),
    ("POST", "/api/embed"),
    ("POST", "/api/embeddings"),
}
NO_CREDENTIALS: dict[str, dict[str, str]] = {
    "none": {},
    "empty bearer": {"Authorization": "Bearer "},
    "basic": {"Authorization": "Basic b3duZXI6cGFzc3dvcmQ="},
    "garbage bearer": {"Authorization": "Bearer not-a-token"},
    "unknown key": {"Authorization": "Bearer uait_" + "x" * 43},
    "unknown x-api-key": {"x-api-key": "uait_" + "y" * 43},
    "empty x-api-key": {"x-api-key": ""},
}


def private_routes(running: Running) -> list[tuple[str, str]]:
    routes = http_routes(running.app)
    assert len(routes) >= 30, routes  # the enumeration found the included routers
    assert set(routes) >= PUBLIC, PUBLIC - set(routes)
    return [route for route in routes if route not in PUBLIC]


async def test_every_private_route_answers_401_without_valid_credentials(
    running: Running,
) -> None:
    failures = []
    for method, template in private_routes(running):
        path = fill_path(template)
        for name, headers in NO_CREDENTIALS.items():
            body = WELL_FORMED if method in {"POST", "PUT", "PATCH"} else None
            response = await running.http.request(method, path, json=body, headers=headers)
            if response.status_code != 401:
                failures.append((method, path, name, response.status_code, response.text[:120]))
                continue
            assert_error_shape(response, 401, path)
            assert response.headers["www-authenticate"] == "Bearer"
    assert not failures, failures


async def test_credentials_are_checked_before_the_body(running: Running) -> None:
    offenders = set()
    for method, template in private_routes(running):
        path = fill_path(template)
        for content in (b"", b"{", b"[]", b'{"model": 7}'):
            response = await running.http.request(method, path, content=content)
            if response.status_code != 401:
                offenders.add((method, template))
    assert not offenders - BODY_BEFORE_CREDENTIALS, offenders - BODY_BEFORE_CREDENTIALS
    if offenders:
        pytest.xfail(f"known bug, outside tests/auth: body parsed before credentials: {offenders}")


async def test_public_routes_answer_without_credentials(running: Running) -> None:
    http = running.http
    assert (await http.get("/health")).status_code == 200
    assert (await http.get("/ready")).status_code == 200
    wrong = {"email": "nobody@example.com", "password": "wrong-password-1"}
    assert_error_shape(await http.post("/auth/login", json=wrong), 401, "/auth/login")
    missing = {"refresh_token": "not-a-refresh-token"}
    assert_error_shape(await http.post("/auth/refresh", json=missing), 401, "/auth/refresh")
    assert (await http.post("/auth/logout", json=missing)).status_code == 204
    assert (await http.post("/auth/logout")).status_code == 204
    unknown_device = {"device_id": fill_path("{id}")}
    response = await http.post("/auth/device/challenge", json=unknown_device)
    assert_error_shape(response, 404, "/auth/device/challenge")
    attempt = {**unknown_device, "challenge": "c" * 43, "signature": "AAAA"}
    response = await http.post("/auth/device/login", json=attempt)
    assert_error_shape(response, 401, "/auth/device/login")
    registration = {"email": "new@example.com", "password": "new-password-123"}
    response = await http.post("/auth/register", json=registration)
    assert_error_shape(response, 403, "/auth/register")  # closed: no invitation
