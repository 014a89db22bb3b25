"""Two organizations: neither can see, list or change the other's objects (404, never 403)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Any

import pytest
import pytest_asyncio

from tests.auth.helpers import (
    OWNER_EMAIL,
    OWNER_PASSWORD,
    DeviceKey,
    Running,
    Session,
    assert_error_shape,
    create_key,
    create_org,
    fill_path,
    http_routes,
    isolated_settings,
    key_header,
    log_in,
    me,
    path_params,
    register_device,
    start_app,
    user_session,
)
from tests.backends import Backends

pytestmark = pytest.mark.asyncio(loop_scope="module")

# Which object of the other organization fills each path parameter.
OBJECT_PARAMS = {"user_id": "user", "key_id": "key", "device_id": "device", "org_id": "org"}
# Well-formed bodies, so that an answer other than 404 cannot be a validation error.
BODIES: dict[str, dict[str, Any]] = {
    "/users/{user_id}": {"suspended": True},
    "/devices/{device_id}": {"name": "stolen"},
}


@dataclass
class Tenant:
    org: dict[str, Any]
    owner: Session
    admin: Session
    member: Session
    user: dict[str, Any]  # the member
    key: dict[str, Any]  # the owner's
    device: dict[str, Any]  # the owner's
    emails: set[str]

    @property
    def ids(self) -> dict[str, str]:
        return {
            "user": self.user["id"],
            "key": self.key["id"],
            "device": self.device["id"],
            "org": self.org["id"],
        }


@dataclass
class TwoOrgs:
    running: Running
    first: Tenant  # the default organization; its owner is an instance administrator
    second: Tenant


async def _populate(
    running: Running, org: dict[str, Any], owner: Session, label: str, owner_email: str
) -> Tenant:
    http = running.http
    _, admin = await user_session(http, owner, f"admin-{label}@example.com", role="admin")
    user, member = await user_session(http, owner, f"member-{label}@example.com")
    key = await create_key(http, owner.headers, name=f"key-{label}")
    await create_key(http, member.headers, name=f"member-key-{label}")
    device = await register_device(http, owner, DeviceKey(), name=f"device-{label}")
    emails = {owner_email, f"admin-{label}@example.com", f"member-{label}@example.com"}
    return Tenant(org, owner, admin, member, user, key, device, emails)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def orgs(
    tmp_path_factory: pytest.TempPathFactory, test_backends: Backends | None
) -> AsyncIterator[TwoOrgs]:
    settings = isolated_settings(tmp_path_factory.mktemp("tenancy"), test_backends)
    async with AsyncExitStack() as stack:
        running = await start_app(settings, stack)
        http = running.http
        owner = await log_in(http, OWNER_EMAIL, OWNER_PASSWORD)
        first_org = (await me(http, owner.headers))["org_id"]
        second_org = await create_org(http, owner, "Second", "owner-2@example.com")
        assert second_org["owner"]["org_id"] == second_org["id"] != first_org
        owner_2 = await log_in(http, "owner-2@example.com")
        assert (await me(http, owner_2.headers))["instance_admin"] is False
        first = await _populate(running, {"id": first_org}, owner, "1", OWNER_EMAIL)
        second = await _populate(running, second_org, owner_2, "2", "owner-2@example.com")
        yield TwoOrgs(running, first, second)


def _object_routes(orgs: TwoOrgs) -> list[tuple[str, str]]:
    routes = [
        (method, template)
        for method, template in http_routes(orgs.running.app)
        if path_params(template) and set(path_params(template)) <= set(OBJECT_PARAMS)
    ]
    templates = {template for _, template in routes}
    expected = {"/users/{user_id}", "/api-keys/{key_id}", "/devices/{device_id}", "/orgs/{org_id}"}
    assert expected <= templates, templates
    return routes


def _without_trace(body: dict[str, object]) -> dict[str, object]:
    """Bodies compared without their trace id (each request has its own)."""
    error = body.get("error")
    if isinstance(error, dict):
        return {**body, "error": {k: v for k, v in error.items() if k != "trace_id"}}
    return {k: v for k, v in body.items() if k != "trace_id"}


async def _try_all(
    orgs: TwoOrgs, headers: dict[str, str], victim: Tenant, orgs_too: bool, admin: bool
) -> None:
    """404 on every verb for admins; a member may get the role guard's 403 instead, but
    then exactly as for an id that does not exist (no oracle of existence)."""
    failures = []
    for method, template in _object_routes(orgs):
        params = path_params(template)
        if "org_id" in params and not orgs_too:
            continue
        values = {name: victim.ids[OBJECT_PARAMS[name]] for name in params}
        path = fill_path(template, values)
        body = BODIES.get(template, {}) if method in {"POST", "PUT", "PATCH"} else None
        http = orgs.running.http
        response = await http.request(method, path, json=body, headers=headers)
        nowhere = await http.request(method, fill_path(template), json=body, headers=headers)
        allowed = {404} if admin else {403, 404}
        same = (response.status_code, _without_trace(response.json())) == (
            nowhere.status_code,
            _without_trace(nowhere.json()),
        )
        if response.status_code not in allowed or not same:
            failures.append((method, template, response.status_code, response.text[:100]))
        else:
            assert_error_shape(response, response.status_code, path)
    assert not failures, failures


@pytest.mark.parametrize(
    ("actor", "victim"),
    [
        ("second.owner", "first"),
        ("second.admin", "first"),
        ("second.member", "first"),
        ("second.owner key", "first"),
        ("first.owner", "second"),
        ("first.admin", "second"),
        ("first.member", "second"),
    ],
)
async def test_other_organizations_objects_are_404_on_every_verb(
    orgs: TwoOrgs, actor: str, victim: str
) -> None:
    tenant_name, _, who = actor.partition(".")
    tenant: Tenant = getattr(orgs, tenant_name)
    owner_key = key_header(tenant.key["key"])
    headers: dict[str, str] = owner_key if who == "owner key" else getattr(tenant, who).headers
    # Only instance administrators (the first owner) may see other organizations.
    instance_admin = actor == "first.owner"
    admin = who != "member"
    victim_tenant = getattr(orgs, victim)
    await _try_all(orgs, headers, victim_tenant, orgs_too=not instance_admin, admin=admin)
    if instance_admin:
        path = f"/orgs/{orgs.second.org['id']}"
        response = await orgs.running.http.get(path, headers=headers)
        assert response.status_code == 200


async def test_lists_hold_only_the_callers_organization(orgs: TwoOrgs) -> None:
    http = orgs.running.http
    for own, other in ((orgs.first, orgs.second), (orgs.second, orgs.first)):
        for session in (own.owner, own.admin):
            users = (await http.get("/users", headers=session.headers)).json()["data"]
            assert {user["email"] for user in users} == own.emails
            assert {user["org_id"] for user in users} == {own.org["id"]}
            keys = (await http.get("/api-keys", headers=session.headers)).json()["data"]
            assert len(keys) == 2 and other.key["id"] not in {key["id"] for key in keys}
            devices = (await http.get("/devices", headers=session.headers)).json()["data"]
            assert [device["id"] for device in devices] == [own.device["id"]]
            entries = (await http.get("/audit?limit=500", headers=session.headers)).json()
            other_ids = set(other.ids.values()) | {
                user_id
                for user_id in {other.user["id"], other.key["user_id"], other.device["user_id"]}
            }
            seen = {entry["target_id"] for entry in entries["data"]}
            assert not (seen & other_ids), seen & other_ids
            # The instance administrator who created an organization is its first actor.
            actors = {
                entry["actor_id"] for entry in entries["data"] if entry["action"] != "org.create"
            }
            assert not (actors & other_ids), actors & other_ids
            organizations = (await http.get("/orgs", headers=session.headers)).json()["data"]
            listed = {organization["id"] for organization in organizations}
            if session is orgs.first.owner:  # the instance administrator sees them all
                assert listed == {orgs.first.org["id"], orgs.second.org["id"]}
            else:
                assert listed == {own.org["id"]}
        member_keys = (await http.get("/api-keys", headers=own.member.headers)).json()["data"]
        assert [key["name"] for key in member_keys] == [f"member-key-{own.key['name'][-1]}"]
        assert (await http.get("/users", headers=own.member.headers)).status_code == 403
        assert (await http.get("/audit", headers=own.member.headers)).status_code == 403


async def test_nothing_changed_after_the_cross_organization_attempts(orgs: TwoOrgs) -> None:
    """Runs after the attempts above (same module app): every object is as it was."""
    http = orgs.running.http
    for tenant in (orgs.first, orgs.second):
        user = (await http.get(f"/users/{tenant.user['id']}", headers=tenant.owner.headers)).json()
        assert user["suspended"] is False and user["org_id"] == tenant.org["id"]
        key = await http.get(f"/api-keys/{tenant.key['id']}", headers=tenant.owner.headers)
        assert key.json()["revoked_at"] is None
        device = await http.get(f"/devices/{tenant.device['id']}", headers=tenant.owner.headers)
        assert device.json()["name"].startswith("device-") and device.json()["revoked_at"] is None
        assert (await http.get("/auth/me", headers=tenant.member.headers)).status_code == 200
