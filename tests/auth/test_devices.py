"""Devices end to end: an Ed25519 key registered, a challenge signed, tokens bound to the device."""

from __future__ import annotations

import base64

from tests.auth.helpers import (
    DeviceKey,
    Running,
    Session,
    assert_error_shape,
    challenge,
    claims_of,
    device_login,
    log_in,
    me,
    refresh,
    register_device,
    tokens_of,
    user_session,
)

LOGIN = "/auth/device/login"


async def test_a_device_logs_in_by_signing_a_challenge(running: Running, owner: Session) -> None:
    http = running.http
    key = DeviceKey()
    device = await register_device(http, owner, key)
    assert device["last_seen_at"] is None and device["revoked_at"] is None
    owner_id = (await me(http, owner.headers))["id"]
    assert device["user_id"] == owner_id
    session = await device_login(http, device["id"], key)
    claims = claims_of(session.access)
    assert claims["device_id"] == device["id"] and claims["sub"] == owner_id
    profile = await me(http, session.headers)
    assert (profile["device_id"], profile["via"], profile["id"]) == (
        device["id"],
        "device",
        owner_id,
    )
    seen = (await http.get(f"/devices/{device['id']}", headers=owner.headers)).json()
    assert seen["last_seen_at"] is not None
    # The device's session refreshes like any other and stays bound to the device.
    renewed = tokens_of(await refresh(http, session.refresh))
    assert claims_of(renewed.access)["device_id"] == device["id"]
    assert (await me(http, renewed.headers))["device_id"] == device["id"]
    # Rename, list.
    response = await http.patch(
        f"/devices/{device['id']}", json={"name": "work laptop"}, headers=owner.headers
    )
    assert response.status_code == 200 and response.json()["name"] == "work laptop"
    listed = (await http.get("/devices", headers=owner.headers)).json()["data"]
    assert [(d["id"], d["name"]) for d in listed] == [(device["id"], "work laptop")]


async def test_device_challenges_are_single_use_and_signatures_checked(
    running: Running, owner: Session
) -> None:
    http = running.http
    key, impostor = DeviceKey(), DeviceKey()
    device = await register_device(http, owner, key)
    other = await register_device(http, owner, DeviceKey(), name="phone")
    # A used challenge cannot log in again.
    nonce = await challenge(http, device["id"])
    attempt = {"device_id": device["id"], "challenge": nonce, "signature": key.sign(nonce)}
    tokens_of(await http.post(LOGIN, json=attempt))
    assert_error_shape(await http.post(LOGIN, json=attempt), 401, LOGIN)
    # A wrong signature is refused, and spends the challenge.
    nonce = await challenge(http, device["id"])
    wrong = [
        impostor.sign(nonce),
        key.sign(nonce + "x"),
        base64.b64encode(b"\0" * 64).decode(),
        "not base64!",
        "",
    ]
    for signature in wrong:
        body = {"device_id": device["id"], "challenge": nonce, "signature": signature}
        assert_error_shape(await http.post(LOGIN, json=body), 401, LOGIN)
    body = {"device_id": device["id"], "challenge": nonce, "signature": key.sign(nonce)}
    assert_error_shape(await http.post(LOGIN, json=body), 401, LOGIN)
    # A challenge belongs to its device; a made-up challenge is nobody's.
    nonce = await challenge(http, device["id"])
    body = {"device_id": other["id"], "challenge": nonce, "signature": key.sign(nonce)}
    assert_error_shape(await http.post(LOGIN, json=body), 401, LOGIN)
    made_up = "m" * 43
    body = {"device_id": device["id"], "challenge": made_up, "signature": key.sign(made_up)}
    assert_error_shape(await http.post(LOGIN, json=body), 401, LOGIN)
    # After all that, a fresh challenge still works.
    assert (await device_login(http, device["id"], key)).access


async def test_bad_public_keys_are_refused(running: Running, owner: Session) -> None:
    for public_key in ("", "not base64", base64.b64encode(b"k" * 31).decode(), "A" * 64):
        body = {"name": "x", "kind": "laptop", "public_key": public_key}
        response = await running.http.post("/devices", json=body, headers=owner.headers)
        assert_error_shape(response, 400, "/devices")


SMALL_ORDER = [
    b"\x01" + bytes(31),  # the identity point
    bytes(32),
    bytes.fromhex("26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05"),
    bytes.fromhex("c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a"),
    bytes.fromhex("ec" + "ff" * 30 + "7f"),
    bytes.fromhex("ed" + "ff" * 30 + "7f"),
    bytes.fromhex("ee" + "ff" * 30 + "7f"),
]
# Under the identity point as public key, this one signature verifies for every message.
UNIVERSAL_SIGNATURE = base64.b64encode(b"\x01" + bytes(63)).decode()


async def test_weak_public_keys_that_anyone_could_sign_for_are_refused(
    running: Running, owner: Session
) -> None:
    http = running.http
    for raw in SMALL_ORDER + [key[:31] + bytes([key[31] | 0x80]) for key in SMALL_ORDER]:
        body = {"name": "x", "kind": "laptop", "public_key": base64.b64encode(raw).decode()}
        response = await http.post("/devices", json=body, headers=owner.headers)
        if response.status_code == 201:  # then show what it would let anyone do
            nonce = await challenge(http, response.json()["id"])
            attempt = {
                "device_id": response.json()["id"],
                "challenge": nonce,
                "signature": UNIVERSAL_SIGNATURE,
            }
            login = await http.post(LOGIN, json=attempt)
            assert login.status_code == 401, f"anyone can log in as a device keyed {raw.hex()}"
        assert_error_shape(response, 400, "/devices")
    assert (await http.get("/devices", headers=owner.headers)).json()["data"] == []


async def test_revoking_a_device_ends_its_tokens_at_once(running: Running, owner: Session) -> None:
    http = running.http
    key = DeviceKey()
    device = await register_device(http, owner, key)
    session = await device_login(http, device["id"], key)
    spare = await device_login(http, device["id"], key)
    assert (await http.get("/auth/me", headers=session.headers)).status_code == 200
    response = await http.delete(f"/devices/{device['id']}", headers=owner.headers)
    assert response.status_code == 204
    response = await http.get("/auth/me", headers=session.headers)
    assert_error_shape(response, 401, "/auth/me")
    assert (await http.get("/api/tags", headers=session.headers)).status_code == 401
    assert (await refresh(http, session.refresh)).status_code == 401
    assert (await refresh(http, spare.refresh)).status_code == 401
    assert (await http.get("/auth/me", headers=spare.headers)).status_code == 401
    response = await http.post("/auth/device/challenge", json={"device_id": device["id"]})
    assert response.status_code == 404
    revoked = (await http.get(f"/devices/{device['id']}", headers=owner.headers)).json()
    assert revoked["revoked_at"] is not None
    # The user's own password session is untouched.
    assert (await http.get("/auth/me", headers=owner.headers)).status_code == 200


async def test_members_see_and_manage_only_their_own_devices(
    running: Running, owner: Session
) -> None:
    http = running.http
    _, member = await user_session(http, owner, "member@example.com")
    owners = await register_device(http, owner, DeviceKey(), name="owner's")
    mine = await register_device(http, member, DeviceKey(), name="member's")
    listed = (await http.get("/devices", headers=member.headers)).json()["data"]
    assert [device["id"] for device in listed] == [mine["id"]]
    for method, body in (("GET", None), ("PATCH", {"name": "x"}), ("DELETE", None)):
        response = await http.request(
            method, f"/devices/{owners['id']}", json=body, headers=member.headers
        )
        assert_error_shape(response, 404, "/devices")
    # An admin (here the owner) sees and may revoke every device of the organization.
    listed = (await http.get("/devices", headers=owner.headers)).json()["data"]
    assert {device["id"] for device in listed} == {owners["id"], mine["id"]}
    assert (await http.delete(f"/devices/{mine['id']}", headers=owner.headers)).status_code == 204
    again = await log_in(http, "member@example.com")
    assert (await me(http, again.headers))["device_id"] is None
