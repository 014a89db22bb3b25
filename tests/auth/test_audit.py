"""The audit log records the security events of an organization, filterable by action."""

from __future__ import annotations

import orjson

from tests.auth.helpers import (
    OWNER_EMAIL,
    OWNER_PASSWORD,
    DeviceKey,
    Running,
    Session,
    audit,
    create_key,
    device_login,
    log_in,
    me,
    refresh,
    register_device,
    tokens_of,
    user_session,
)


async def test_the_audit_log_records_security_events(running: Running, owner: Session) -> None:
    http = running.http
    owner_id = (await me(http, owner.headers))["id"]
    member, member_session = await user_session(http, owner, "member@example.com")
    # Login failure and success.
    wrong = {"email": "member@example.com", "password": "wrong-password-1"}
    assert (await http.post("/auth/login", json=wrong)).status_code == 401
    # Refresh reuse.
    renewed = tokens_of(await refresh(http, member_session.refresh))
    assert (await refresh(http, member_session.refresh)).status_code == 401
    assert (await refresh(http, renewed.refresh)).status_code == 401
    # Keys and devices created and revoked.
    key = await create_key(http, owner.headers)
    assert (await http.delete(f"/api-keys/{key['id']}", headers=owner.headers)).status_code == 204
    device_key = DeviceKey()
    device = await register_device(http, owner, device_key)
    await device_login(http, device["id"], device_key)
    bad = {"device_id": device["id"], "challenge": "c" * 43, "signature": device_key.sign("x")}
    assert (await http.post("/auth/device/login", json=bad)).status_code == 401
    assert (await http.delete(f"/devices/{device['id']}", headers=owner.headers)).status_code == 204
    # Role changes.
    response = await http.patch(
        f"/users/{member['id']}", json={"role": "admin"}, headers=owner.headers
    )
    assert response.status_code == 200
    response = await http.patch(
        f"/users/{member['id']}", json={"suspended": True}, headers=owner.headers
    )
    assert response.status_code == 200

    admin = await log_in(http, OWNER_EMAIL, OWNER_PASSWORD)
    successes = await audit(http, admin, "login.success")
    assert {entry["actor_id"] for entry in successes} == {owner_id, member["id"]}
    assert all(entry["address"] == "127.0.0.1" for entry in successes)
    failures = await audit(http, admin, "login.failure")
    assert [(e["target_id"], e["address"]) for e in failures] == [(member["id"], "127.0.0.1")]
    assert orjson.loads(failures[0]["detail"]) == {"reason": "bad_credentials"}
    reuse = await audit(http, admin, "refresh.reuse")
    assert [entry["target_id"] for entry in reuse] == [member["id"]]
    assert [e["target_id"] for e in await audit(http, admin, "api_key.create")] == [key["id"]]
    assert [e["target_id"] for e in await audit(http, admin, "api_key.revoke")] == [key["id"]]
    assert [e["target_id"] for e in await audit(http, admin, "device.create")] == [device["id"]]
    assert [e["target_id"] for e in await audit(http, admin, "device.login")] == [device["id"]]
    failed = await audit(http, admin, "device.login_failure")
    assert [e["target_id"] for e in failed] == [device["id"]]
    assert [e["target_id"] for e in await audit(http, admin, "device.revoke")] == [device["id"]]
    created = await audit(http, admin, "user.create")
    assert [(e["target_id"], orjson.loads(e["detail"])) for e in created] == [
        (member["id"], {"role": "member"})
    ]
    updates = await audit(http, admin, "user.update", target_id=member["id"])
    assert [orjson.loads(entry["detail"]) for entry in updates] == [
        {"suspended": True},
        {"role": "member->admin"},
    ]
    assert all(entry["actor_id"] == owner_id for entry in updates)
    # Newest first, and paged with `before`.
    everything = (await http.get("/audit?limit=3", headers=admin.headers)).json()
    assert everything["has_more"] is True and len(everything["data"]) == 3
    stamps = [entry["created_at"] for entry in everything["data"]]
    assert stamps == sorted(stamps, reverse=True)
    older = await http.get(
        "/audit", params={"limit": "500", "before": stamps[-1]}, headers=admin.headers
    )
    assert all(entry["created_at"] < stamps[-1] for entry in older.json()["data"])
