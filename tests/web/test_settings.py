"""In the browser: the session across reloads and logout, API keys, devices, password,
memory, and the admin pages (users and roles, audit log, health, cache)."""

from __future__ import annotations

import base64
from collections.abc import Callable

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from tests.conftest import OWNER_EMAIL, OWNER_PASSWORD
from tests.servers import LiveServer
from tests.web.conftest import Tab, expect, owner_api

REFRESH = "() => sessionStorage.getItem('uait.refresh')"


def confirm(tab: Tab, button: str) -> None:
    tab.page.locator("dialog[open]").get_by_role("button", name=button).click()


def test_session_survives_a_reload_and_ends_at_logout(
    live_server: LiveServer, tabs: Callable[..., Tab]
) -> None:
    tab = tabs(live_server)
    tab.login()
    first = tab.page.evaluate(REFRESH)
    tab.page.reload()
    tab.page.wait_for_selector("header.top")  # no login form: the refresh token was used
    second = tab.page.evaluate(REFRESH)
    assert first and second and first != second  # rotated
    spent = httpx.post(f"{live_server.url}/auth/refresh", json={"refresh_token": first})
    assert spent.status_code == 401
    tab.page.get_by_role("button", name="Log out").click()
    tab.page.get_by_role("button", name="Log in").wait_for()
    assert tab.page.evaluate(REFRESH) is None
    ended = httpx.post(f"{live_server.url}/auth/refresh", json={"refresh_token": second})
    assert ended.status_code == 401
    tab.check()


def test_api_keys_devices_and_password(
    live_server: LiveServer, tabs: Callable[..., Tab]
) -> None:
    api = owner_api(live_server)
    public = (
        Ed25519PrivateKey.generate().public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    )
    encoded = base64.b64encode(public).decode()
    device = api.post(
        "/devices", json={"name": "pi", "kind": "raspberry-pi", "public_key": encoded}
    ).json()
    tab = tabs(live_server)
    page = tab.login(then="#/settings")

    page.get_by_label("Key name").fill("ci-key")
    page.get_by_role("button", name="Create key").click()
    key = page.locator(".secret code.key").inner_text()
    assert key.startswith("uait_")
    with_key = {"Authorization": f"Bearer {key}"}
    assert httpx.get(f"{live_server.url}/v1/models", headers=with_key).status_code == 200
    tab.shots("settings")
    page.get_by_role("button", name="Done").click()
    expect(page.locator(".secret code.key")).to_have_count(0)  # shown once only
    page.get_by_role("button", name="Revoke key ci-key").click()
    confirm(tab, "Revoke")
    expect(page.locator("tr[data-key=ci-key]")).to_contain_text("revoked")
    assert httpx.get(f"{live_server.url}/v1/models", headers=with_key).status_code == 401

    row = page.locator("tr", has_text="raspberry-pi")
    row.get_by_role("button", name="Rename").click()
    page.locator("dialog[open]").get_by_label("Name").fill("kitchen pi")
    confirm(tab, "Save")
    expect(row).to_contain_text("kitchen pi")
    assert api.get(f"/devices/{device['id']}").json()["name"] == "kitchen pi"
    row.get_by_role("button", name="Revoke").click()
    confirm(tab, "Revoke")
    expect(row).to_contain_text("revoked")
    assert api.get(f"/devices/{device['id']}").json()["revoked_at"] is not None

    page.get_by_label("Current password").fill("not-my-password")
    page.get_by_label("New password").fill("a-new-owner-password")
    page.get_by_role("button", name="Change password").click()
    page.get_by_text("the current password is wrong").wait_for()
    page.get_by_role("button", name="Log out").wait_for()  # still logged in
    page.get_by_label("Current password").fill(OWNER_PASSWORD)
    page.get_by_label("New password").fill("a-new-owner-password")
    page.get_by_role("button", name="Change password").click()
    page.get_by_text("Password changed").wait_for()
    login = {"email": OWNER_EMAIL, "password": "a-new-owner-password"}
    assert httpx.post(f"{live_server.url}/auth/login", json=login).status_code == 200
    tab.check()


def test_memory_list_search_edit_delete(live_server: LiveServer, tabs: Callable[..., Tab]) -> None:
    api = owner_api(live_server)
    api.post("/memories", json={"content": "I live in Lisbon"}).raise_for_status()
    tab = tabs(live_server)
    page = tab.login(then="#/memory")
    page.get_by_label("Remember").fill("My favourite colour is teal")
    page.get_by_role("button", name="Add").click()
    memories = page.locator("li.memory")
    expect(memories).to_have_count(2)

    page.get_by_label("Search memories").fill("which colour do I like")
    expect(memories.first).to_contain_text("teal")
    expect(memories.first).to_contain_text("score")
    page.get_by_label("Search memories").fill("")
    expect(memories.first).not_to_contain_text("score")  # the plain list again
    expect(memories).to_have_count(2)

    page.get_by_role("button", name="Edit memory: My favourite colour is teal").click()
    page.get_by_label("Memory", exact=True).fill("My favourite colour is green")
    page.get_by_role("button", name="Save").click()
    page.locator("li.memory", has_text="green").wait_for()
    tab.shots("memory")

    page.get_by_role("button", name="Delete memory: My favourite colour is green").click()
    confirm(tab, "Forget")
    expect(memories).to_have_count(1)
    left = [m["content"] for m in api.get("/memories").json()["data"]]
    assert left == ["I live in Lisbon"]
    tab.check()


def test_admin_pages(live_server: LiveServer, tabs: Callable[..., Tab]) -> None:
    api = owner_api(live_server)
    question = {
        "model": "smollm2",
        "temperature": 0,
        "max_tokens": 8,
        "messages": [{"role": "user", "content": "Say yes."}],
    }
    api.post("/v1/chat/completions", json=question).raise_for_status()
    tab = tabs(live_server)
    page = tab.login()

    tab.go("#/admin/users")
    form = page.get_by_role("form", name="Create a user")
    form.get_by_label("Email").fill("carol@example.com")
    form.get_by_label("Password").fill("carol-password-1")
    form.get_by_role("button", name="Create user").click()
    page.get_by_label("Role of carol@example.com").select_option("viewer")
    page.get_by_text("Role changed").wait_for()
    carol = next(u for u in api.get("/users").json()["data"] if u["email"] == "carol@example.com")
    assert carol["role"] == "viewer"
    page.locator("tr", has_text="carol@example.com").get_by_role("button", name="Suspend").click()
    page.locator("tr", has_text="carol@example.com").get_by_text("suspended").wait_for()
    tab.shots("admin-users")

    tab.go("#/admin/audit")
    page.get_by_text("user.create").first.wait_for()
    page.get_by_text("login.success").first.wait_for()
    tab.shots("admin-audit")

    tab.go("#/admin/health")
    page.get_by_text("backend:embedded").wait_for()
    expect(page.locator("tr", has_text="smollm2").first).to_contain_text("closed")
    tab.shots("admin-health")

    tab.go("#/admin/cache")
    entry = page.locator("tr", has_text="Say yes.")
    entry.get_by_role("button", name="Inspect").click()
    expect(page.locator("dialog[open]")).to_contain_text('"answer"')
    page.locator("dialog[open]").get_by_role("button", name="Close").click()
    tab.shots("admin-cache")
    entry.get_by_role("button", name="Delete").click()
    expect(entry).to_have_count(0)
    assert api.get("/cache/entries").json()["data"] == []
    api.post("/v1/chat/completions", json=question).raise_for_status()
    page.get_by_role("button", name="Refresh").click()
    page.locator("tr", has_text="Say yes.").wait_for()
    page.get_by_role("button", name="Flush").click()
    confirm(tab, "Flush")
    page.get_by_text("Flushed 1 entries").wait_for()
    tab.check()
