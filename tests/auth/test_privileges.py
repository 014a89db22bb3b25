"""Nobody raises their own rights: privileged fields are refused, roles are granted downwards."""

from __future__ import annotations

from typing import Any

import httpx

from tests.auth.conftest import Start
from tests.auth.helpers import (
    OWNER_EMAIL,
    PASSWORD,
    DeviceKey,
    Running,
    Session,
    assert_error_shape,
    bearer,
    create_key,
    create_org,
    key_header,
    log_in,
    me,
    user_session,
)
from tests.conftest import SettingsFactory

PRIVILEGED: list[dict[str, Any]] = [
    {"role": "owner"},
    {"role": "admin"},
    {"is_admin": True},
    {"instance_admin": True},
    {"suspended": False, "org_id": "ORG"},
]


def _with_org(extra: dict[str, Any], org_id: str) -> dict[str, Any]:
    return {name: org_id if value == "ORG" else value for name, value in extra.items()}


async def _register(
    http: httpx.AsyncClient, email: str, invitation: str | None, extra: dict[str, Any]
) -> httpx.Response:
    body: dict[str, Any] = {"email": email, "password": PASSWORD, **extra}
    if invitation is not None:
        body["invitation"] = invitation
    return await http.post("/auth/register", json=body)


async def _check_registered(
    http: httpx.AsyncClient, response: httpx.Response, org_id: str, role: str
) -> None:
    """Either refused (4xx) or the extra fields were ignored: the right org and role."""
    assert response.status_code in {201} or 400 <= response.status_code < 500, response.text
    if response.status_code == 201:
        user = response.json()
        assert (user["org_id"], user["role"]) == (org_id, role), user
        profile = await me(http, (await log_in(http, user["email"])).headers)
        assert (profile["org_id"], profile["role"], profile["instance_admin"]) == (
            org_id,
            role,
            False,
        )


async def _invite(http: httpx.AsyncClient, admin: Session, email: str) -> str:
    response = await http.post(
        "/invitations", json={"email": email, "role": "member"}, headers=admin.headers
    )
    assert response.status_code == 201, response.text
    token: str = response.json()["token"]
    return token


async def test_registration_by_invitation_ignores_or_refuses_privileged_fields(
    running: Running, owner: Session
) -> None:
    http = running.http
    first_org = (await me(http, owner.headers))["org_id"]
    second = await create_org(http, owner, "Second", "owner-2@example.com")
    owner_2 = await log_in(http, "owner-2@example.com")
    for index, extra in enumerate(PRIVILEGED):
        email = f"invitee-{index}@example.com"
        invitation = await _invite(http, owner_2, email)
        response = await _register(http, email, invitation, _with_org(extra, first_org))
        await _check_registered(http, response, second["id"], "member")
        if response.status_code != 201:  # refused: the invitation is still good, as it is
            plain = await _register(http, email, invitation, {})
            assert plain.status_code == 201, plain.text
            await _check_registered(http, plain, second["id"], "member")
    # The invited members landed in the second organization only.
    users = (await http.get("/users", headers=owner_2.headers)).json()["data"]
    assert {u["email"] for u in users if u["email"].startswith("invitee-")} == {
        f"invitee-{index}@example.com" for index in range(len(PRIVILEGED))
    }
    assert all(u["role"] in {"owner", "member"} for u in users)


async def test_open_registration_ignores_or_refuses_privileged_fields(
    start: Start, make_settings: SettingsFactory
) -> None:
    running = await start(make_settings(auth={"open_registration": True}))
    http = running.http
    owner = await log_in(http, OWNER_EMAIL, "owner-password-123")
    first_org = (await me(http, owner.headers))["org_id"]
    second = await create_org(http, owner, "Second", "owner-2@example.com")
    for index, extra in enumerate(PRIVILEGED):
        email = f"walk-in-{index}@example.com"
        response = await _register(http, email, None, _with_org(extra, second["id"]))
        await _check_registered(http, response, first_org, "member")
    response = await _register(http, "plain@example.com", None, {})
    assert response.status_code == 201
    await _check_registered(http, response, first_org, "member")


async def test_patching_a_user_with_privileged_fields_is_refused(
    running: Running, owner: Session
) -> None:
    http = running.http
    profile = await me(http, owner.headers)
    other_org = "0" * 32
    for extra in (
        {"org_id": other_org},
        {"is_admin": True},
        {"instance_admin": True},
        {"role": "member", "org_id": other_org},
        {"email": "other@example.com"},
        {"password_hash": "x"},
    ):
        response = await http.patch(f"/users/{profile['id']}", json=extra, headers=owner.headers)
        assert_error_shape(response, 400, "/users")
    after = await me(http, owner.headers)
    assert after == profile


async def test_creating_an_api_key_for_someone_else_is_refused(
    running: Running, owner: Session
) -> None:
    http = running.http
    member, session = await user_session(http, owner, "member@example.com")
    for extra in ({"user_id": member["id"]}, {"org_id": member["org_id"]}, {"role": "owner"}):
        response = await http.post("/api-keys", json={"name": "k", **extra}, headers=owner.headers)
        assert_error_shape(response, 400, "/api-keys")
        response = await http.post(
            "/api-keys", json={"name": "k", **extra}, headers=session.headers
        )
        assert_error_shape(response, 400, "/api-keys")
    assert (await http.get("/api-keys", headers=owner.headers)).json()["data"] == []


async def test_an_admin_cannot_grant_or_touch_owner(running: Running, owner: Session) -> None:
    http = running.http
    _, admin = await user_session(http, owner, "admin@example.com", role="admin")
    member, _ = await user_session(http, owner, "member@example.com")
    owner_id = (await me(http, owner.headers))["id"]
    body = {"email": "boss@example.com", "password": PASSWORD, "role": "owner"}
    assert_error_shape(await http.post("/users", json=body, headers=admin.headers), 403, "/users")
    for target, change in (
        (member["id"], {"role": "owner"}),
        (owner_id, {"role": "member"}),
        (owner_id, {"suspended": True}),
    ):
        response = await http.patch(f"/users/{target}", json=change, headers=admin.headers)
        assert_error_shape(response, 403, "/users")
    assert (await http.delete(f"/users/{owner_id}", headers=admin.headers)).status_code == 403
    invitation = {"email": "boss@example.com", "role": "owner"}
    response = await http.post("/invitations", json=invitation, headers=admin.headers)
    assert_error_shape(response, 403, "/invitations")
    assert (await me(http, owner.headers))["role"] == "owner"
    assert (await http.get(f"/users/{member['id']}", headers=owner.headers)).json()[
        "role"
    ] == "member"
    # What an admin may do: grant up to admin.
    response = await http.patch(
        f"/users/{member['id']}", json={"role": "admin"}, headers=admin.headers
    )
    assert response.status_code == 200 and response.json()["role"] == "admin"


async def test_members_and_viewers_cannot_manage_users(running: Running, owner: Session) -> None:
    http = running.http
    _, member = await user_session(http, owner, "member@example.com")
    _, viewer = await user_session(http, owner, "viewer@example.com", role="viewer")
    body = {"email": "new@example.com", "password": PASSWORD, "role": "viewer"}
    for session in (member, viewer):
        response = await http.post("/users", json=body, headers=session.headers)
        assert_error_shape(response, 403, "/users")
        response = await http.post("/invitations", json={"role": "viewer"}, headers=session.headers)
        assert response.status_code == 403
        org = {"name": "Mine", "owner": {"email": "mine@example.com", "password": PASSWORD}}
        assert (await http.post("/orgs", json=org, headers=session.headers)).status_code == 403
    # A viewer reads; it holds no credentials of its own.
    response = await http.post("/api-keys", json={"name": "k"}, headers=viewer.headers)
    assert_error_shape(response, 403, "/api-keys")
    users = (await http.get("/users", headers=owner.headers)).json()["data"]
    assert "new@example.com" not in {user["email"] for user in users}


async def test_an_api_key_cannot_mint_credentials(running: Running, owner: Session) -> None:
    """Else a key limited to a model would make itself an unlimited one, and a leaked key
    would outlive its revocation through the keys and devices it made."""
    http = running.http
    limited = await create_key(http, owner.headers, name="limited", models=["smollm2"], rpm=5)
    unlimited = await create_key(http, owner.headers, name="unlimited")
    device = {"name": "d", "kind": "laptop", "public_key": DeviceKey().public_b64}
    for key in (limited["key"], unlimited["key"]):
        for headers in (bearer(key), key_header(key)):
            response = await http.post("/api-keys", json={"name": "more"}, headers=headers)
            assert_error_shape(response, 403, "/api-keys")
            response = await http.post("/devices", json=device, headers=headers)
            assert_error_shape(response, 403, "/devices")
            # Reading and giving up rights stay open to keys.
            assert (await http.get("/api-keys", headers=headers)).status_code == 200
    response = await http.delete(f"/api-keys/{limited['id']}", headers=bearer(unlimited["key"]))
    assert response.status_code == 204
    keys = (await http.get("/api-keys", headers=owner.headers)).json()["data"]
    assert sorted(key["name"] for key in keys) == ["limited", "unlimited"]
    assert (await http.get("/devices", headers=owner.headers)).json()["data"] == []
