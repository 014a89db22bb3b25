"""In the browser, two users in one room: each other's messages, presence, typing, an
`@agent` answer streaming to both, a shared file, and a network drop with resume."""

from __future__ import annotations

import json
from collections.abc import Callable

from playwright.sync_api import WebSocket

from tests.servers import LiveServer
from tests.web.conftest import PHONE, Tab, expect, owner_api, renders

BOB = ("bob@example.com", "bob-password-123")


def frames_of(tab: Tab) -> list[dict[str, object]]:
    """Every frame the page's WebSockets receive, as sent by the server."""
    received: list[dict[str, object]] = []

    def watch(socket: WebSocket) -> None:
        socket.on("framereceived", lambda payload: received.append(json.loads(payload)))

    tab.page.on("websocket", watch)
    return received


def test_two_users_share_a_room_with_an_agent(
    live_server: LiveServer, tabs: Callable[..., Tab]
) -> None:
    api = owner_api(live_server)
    bob = api.post("/users", json={"email": BOB[0], "password": BOB[1], "role": "member"})
    assert bob.status_code == 201, bob.text
    dave = api.post(
        "/users", json={"email": "dave@example.com", "password": "dave-password-1"}
    ).json()
    agent = api.post(
        "/agents",
        json={
            "name": "helper",
            "system_prompt": "You are a helpful assistant. Answer in one short sentence.",
            "model": "smollm2",
            "max_tokens": 24,
        },
    ).json()

    ann = tabs(live_server)
    ann_frames = frames_of(ann)
    ann.login(then="#/rooms")
    ann.page.get_by_text("+ New room").click()
    form = ann.page.get_by_role("form", name="New room")
    form.get_by_label("Room name").fill("team")
    form.get_by_label(BOB[0]).check()
    form.get_by_label("@helper").check()
    form.get_by_role("button", name="Create room").click()
    ann.page.get_by_role("heading", name="team").wait_for()
    room_id = api.get("/rooms").json()["data"][0]["id"]
    ann.page.get_by_text("Invite").click()
    ann.page.get_by_label("User to invite").select_option(label="dave@example.com")
    ann.page.get_by_role("button", name="Add member").click()
    ann.page.get_by_text("Member added").wait_for()
    members = {m["user_id"] for m in api.get(f"/rooms/{room_id}").json()["members"]}
    assert dave["id"] in members and bob.json()["id"] in members
    ann.page.get_by_text("Invite").click()

    bob_tab = tabs(live_server, PHONE)
    bob_frames = frames_of(bob_tab)
    bob_tab.login(*BOB, then="#/rooms")
    bob_tab.page.get_by_role("link", name="team").click()
    bob_tab.page.get_by_role("heading", name="team").wait_for()

    # presence: each sees the other online
    expect(ann.page.locator(".presence li.status-online")).to_have_count(2)
    expect(bob_tab.page.locator(".presence li.status-online")).to_have_count(2)

    # typing reaches the other member
    ann.page.get_by_label("Room message", exact=True).fill("hel")
    expect(bob_tab.page.locator(".typing")).to_contain_text("typing…")

    # messages, both ways
    ann.page.get_by_label("Room message", exact=True).fill("hello from Ann")
    ann.page.keyboard.press("Enter")
    bob_tab.page.locator(".msg.other", has_text="hello from Ann").wait_for()
    bob_tab.page.get_by_label("Room message", exact=True).fill("hi from Bob")
    bob_tab.page.keyboard.press("Enter")
    ann.page.locator(".msg.other", has_text="hi from Bob").wait_for()
    ann.page.locator(".msg.mine:not(.pending)", has_text="hello from Ann").wait_for()

    # an @agent answer streams to both members
    question = "@helper what is the capital of France?"
    bob_tab.page.get_by_label("Room message", exact=True).fill(question)
    bob_tab.page.keyboard.press("Enter")
    for tab in (ann, bob_tab):
        answer = tab.page.locator(".msg.assistant:not(.streaming)", has_text="@helper")
        answer.wait_for()
    stored = api.get(f"/rooms/{room_id}/messages").json()["data"]
    answer_message = next(m for m in stored if m.get("agent_id") == agent["id"])
    for frames, tab in ((ann_frames, ann), (bob_frames, bob_tab)):
        deltas = [f["delta"] for f in frames if f["type"] == "ai.delta"]
        assert deltas, "no live tokens reached this member"
        assert "".join(deltas) == answer_message["content"]
        shown = tab.page.locator(".msg.assistant .body").last.inner_text()
        assert renders(answer_message["content"], shown)

    # a shared file, with upload progress, downloadable by the other member
    ann.page.get_by_label("Share a file").set_input_files(
        {"name": "notes.txt", "mimeType": "text/plain", "buffer": b"meeting notes\n"}
    )
    file_message = bob_tab.page.locator(".msg", has_text="notes.txt")
    file_message.wait_for()
    with bob_tab.page.expect_download() as downloaded:
        file_message.get_by_role("button", name="Download").click()
    assert downloaded.value.path().read_bytes() == b"meeting notes\n"
    ann.shots("room")
    bob_tab.shot("room-second-user-phone")

    # a network drop: Bob sees "reconnecting…", then catches up on what he missed, once
    bob_tab.context.set_offline(True)
    expect(bob_tab.page.locator(".conn-state")).to_have_text("reconnecting…")
    bob_tab.shot("room-reconnecting-phone")
    ann.page.get_by_label("Room message", exact=True).fill("while you were away")
    ann.page.keyboard.press("Enter")
    ann.page.locator(".msg.mine:not(.pending)", has_text="while you were away").wait_for()
    bob_tab.context.set_offline(False)
    expect(bob_tab.page.locator(".conn-state")).to_have_text("connected")
    missed = bob_tab.page.locator(".msg", has_text="while you were away")
    missed.wait_for()
    expect(missed).to_have_count(1)
    expect(bob_tab.page.locator(".msg", has_text="hello from Ann")).to_have_count(1)
    ann.check()
    bob_tab.check()
