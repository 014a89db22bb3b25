"""In the browser: log in, chat with streamed answers, feedback, the prompt inspector,
regenerate, stop, the conversations sidebar, agents; first-page metrics."""

from __future__ import annotations

from collections.abc import Callable

from tests.servers import LiveServer
from tests.web.conftest import PHONE, Tab, expect, owner_api, record_metrics, renders, words
from universal_ai_tools.web.router import ASSETS

FIRST_PAGE_METRICS = """() => {
  const nav = performance.getEntriesByType('navigation')[0];
  const ready = performance.getEntriesByName('uait-interactive')[0];
  const scripts = performance.getEntriesByType('resource').filter((r) => r.name.endsWith('.js'));
  return {
    dom_interactive_ms: nav.domInteractive,
    dom_content_loaded_ms: nav.domContentLoadedEventEnd,
    load_event_ms: nav.loadEventEnd,
    app_interactive_ms: ready ? ready.startTime : null,
    first_page_js_files: scripts.length,
    first_page_js_bytes: scripts.reduce((sum, r) => sum + r.decodedBodySize, 0),
  };
}"""


# Records every state the first answer's text goes through while it is shown.
WATCH_ANSWER = """() => {
  window.answerStates = [];
  new MutationObserver(() => {
    const body = document.querySelector('.msg.assistant .body');
    if (body) window.answerStates.push(body.textContent);
  }).observe(document.body,
    { subtree: true, childList: true, characterData: true });
}"""



def test_first_page_login_and_a_streamed_chat(
    live_server: LiveServer, tabs: Callable[..., Tab]
) -> None:
    tab = tabs(live_server)
    page = tab.page
    tab.open()
    metrics = page.evaluate(FIRST_PAGE_METRICS)
    js_total = sum(len(asset.body) for name, asset in ASSETS.items() if name.endswith(".js"))
    record_metrics({"first_page": metrics, "js_bytes_total": js_total})
    assert metrics["app_interactive_ms"] is not None  # reported, not asserted on
    assert page.get_by_text("First start?").is_visible()
    tab.shots("login")

    tab.login()
    page.evaluate(WATCH_ANSWER)
    page.get_by_label("Message", exact=True).fill("Hello! Name three colours.")
    page.keyboard.press("Enter")
    answer = page.locator(".msg.assistant[data-message-id]").first
    answer.wait_for()
    message_id = answer.get_attribute("data-message-id")
    meta = answer.locator(".meta").inner_text()
    assert "tokens" in meta and " ms" in meta and "cache: " in meta

    api = owner_api(live_server)
    conversations = api.get("/conversations").json()["data"]
    assert len(conversations) == 1
    conversation_id = conversations[0]["id"]
    stored = api.get(f"/conversations/{conversation_id}/messages").json()["data"]
    assert [m["role"] for m in stored] == ["user", "assistant"]
    assert stored[1]["id"] == message_id
    shown = answer.locator(".body").inner_text()
    assert renders(stored[1]["content"], shown)  # the stored answer
    # streamed: the answer was shown in parts before it was whole
    states = [words(text) for text in page.evaluate("() => window.answerStates")]
    partial = [state for state in states if 0 < len(state) < len(words(shown))]
    assert partial, states

    # feedback: thumbs and rating reach the summary
    answer.get_by_role("button", name="Good answer").click()
    page.wait_for_selector("[aria-label='Good answer'][aria-pressed='true']")
    answer.get_by_label("Rate this answer").select_option("4")
    page.get_by_text("Rated").wait_for()
    summary = api.get("/feedback/summary").json()["data"]
    assert summary[0]["up"] == 1 and summary[0]["ratings"] == 1

    # the prompt inspector shows what was sent to the model
    answer.get_by_role("button", name="Prompt").click()
    dialog = page.locator("dialog[open]")
    assert "Name three colours." in dialog.inner_text()
    assert "Prompt sent to smollm2" in dialog.inner_text()
    dialog.get_by_role("button", name="Close").click()

    # copy puts the answer on the clipboard
    tab.context.grant_permissions(["clipboard-read", "clipboard-write"])
    answer.get_by_role("button", name="Copy answer").click()
    assert page.evaluate("navigator.clipboard.readText()").strip() == stored[1]["content"].strip()

    # regenerate asks again past the cache, in the same conversation
    answer.get_by_role("button", name="Regenerate answer").click()
    page.locator(".msg.assistant[data-message-id]").nth(1).wait_for()
    second = page.locator(".msg.assistant").nth(1).locator(".meta").inner_text()
    assert "cache: " in second
    assert len(api.get(f"/conversations/{conversation_id}/messages").json()["data"]) == 4

    # stop: a long answer is cut short, and the composer is ready again
    page.get_by_label("Message", exact=True).fill("Write a long story about a dragon.")
    page.keyboard.press("Enter")
    stop = page.get_by_role("button", name="Stop")
    stop.click()
    expect(page.locator(".msg.assistant").last.locator(".meta")).to_have_text("stopped")
    page.wait_for_selector(".composer button[type=submit]:not([disabled])")
    assert stop.is_hidden()
    tab.shots("chat")

    # the dark theme, kept across a reload
    page.get_by_role("button", name="Toggle dark theme").click()
    theme = page.evaluate("() => document.documentElement.dataset.theme")
    page.reload()
    page.locator(".msg.assistant").first.wait_for()
    assert page.evaluate("() => document.documentElement.dataset.theme") == theme
    tab.shots(f"chat-{theme}")
    tab.check()


def test_conversations_sidebar(live_server: LiveServer, tabs: Callable[..., Tab]) -> None:
    api = owner_api(live_server)
    for title in ("Trip to Lisbon", "Shopping list"):
        api.post("/conversations", json={"title": title}).raise_for_status()
    tab = tabs(live_server)
    page = tab.login()
    items = page.locator("ul[aria-label=Conversations] li")
    items.nth(1).wait_for()

    page.get_by_label("Search conversations").fill("lisbon")
    expect(items).to_have_count(1)
    assert items.first.inner_text().startswith("Trip to Lisbon")
    page.keyboard.press("Alt+2")  # keyboard navigation between pages
    page.get_by_role("heading", name="Agents", exact=True).wait_for()
    page.keyboard.press("Alt+1")
    page.get_by_label("Search conversations").fill("lisbon")
    expect(items).to_have_count(1)

    items.first.locator("summary").click()
    items.first.get_by_role("button", name="Rename").click()
    page.locator("dialog[open]").get_by_label("Title").fill("Lisbon in May")
    page.locator("dialog[open]").get_by_role("button", name="Save").click()
    page.locator("ul[aria-label=Conversations] li a", has_text="Lisbon in May").wait_for()
    page.get_by_label("Search conversations").fill("")
    expect(items).to_have_count(2)  # the whole list again
    page.locator("ul[aria-label=Conversations] li a", has_text="Lisbon in May").wait_for()

    lisbon = items.filter(has_text="Lisbon in May")
    lisbon.locator("summary").click()
    with page.expect_download() as exported:
        lisbon.get_by_role("button", name="Export Markdown").click()
    assert exported.value.path().read_text().startswith("# Lisbon in May")

    lisbon.locator("summary").click()
    lisbon.get_by_role("button", name="Archive").click()
    expect(items).to_have_count(1)
    page.get_by_label("Show archived").check()
    page.locator("ul[aria-label=Conversations] li a", has_text="Lisbon in May").wait_for()
    archived = items.filter(has_text="Lisbon in May")
    archived.locator("summary").click()
    archived.get_by_role("button", name="Delete").click()
    page.locator("dialog[open]").get_by_role("button", name="Delete").click()
    expect(items).to_have_count(0)
    archived_left = api.get("/conversations", params={"archived": "true"}).json()["data"]
    assert archived_left == []
    assert [c["title"] for c in api.get("/conversations").json()["data"]] == ["Shopping list"]
    tab.check()


def test_agents_create_edit_and_chat(live_server: LiveServer, tabs: Callable[..., Tab]) -> None:
    tab = tabs(live_server, PHONE)
    page = tab.login(then="#/agents")
    page.get_by_text("New agent").click()
    form = page.get_by_role("form", name="New agent")
    form.get_by_label("Name (used as @name)").fill("poet")
    form.get_by_label("Description").fill("Writes short poems")
    form.get_by_label("System prompt").fill("You write very short poems.")
    form.get_by_label("Max tokens").fill("30")
    form.get_by_role("button", name="Create agent").click()
    card = page.locator("li[data-agent=poet]")
    card.wait_for()
    assert "Writes short poems" in card.inner_text()

    card.get_by_role("button", name="Edit").click()
    card.get_by_label("Description").fill("Writes haiku")
    card.get_by_role("button", name="Save agent").click()
    card.get_by_text("Writes haiku").wait_for()
    api = owner_api(live_server)
    agent = api.get("/agents").json()["data"][0]
    assert agent["description"] == "Writes haiku" and agent["name"] == "poet"
    assert agent["max_tokens"] == 30
    tab.shots("agents")

    card.get_by_role("link", name="Chat").click()
    assert page.get_by_label("Model").input_value() == f"agent:{agent['id']}"
    page.get_by_label("Message", exact=True).fill("A poem about rain")
    page.keyboard.press("Enter")
    page.locator(".msg.assistant[data-message-id]").wait_for()
    conversation = api.get("/conversations").json()["data"][0]
    assert conversation["agent_id"] == agent["id"]
    tab.check()


def test_older_conversations_and_room_messages_page_in(
    live_server: LiveServer, tabs: Callable[..., Tab]
) -> None:
    api = owner_api(live_server)
    for number in range(52):
        api.post("/conversations", json={"title": f"chat {number}"}).raise_for_status()
    room = api.post("/rooms", json={"name": "busy"}).json()
    for number in range(1, 106):
        posted = api.post(f"/rooms/{room['id']}/messages", json={"content": f"note {number}"})
        assert posted.status_code == 201, posted.text
    tab = tabs(live_server)
    page = tab.login()
    items = page.locator("ul[aria-label=Conversations] li:not(.more)")
    expect(items).to_have_count(50)
    page.get_by_role("button", name="Older conversations").click()
    expect(items).to_have_count(52)
    expect(page.get_by_role("button", name="Older conversations")).to_have_count(0)

    tab.go(f"#/rooms/{room['id']}")
    messages = page.locator(".messages .msg")
    expect(messages).to_have_count(100)
    assert messages.first.inner_text().endswith("note 6")
    page.get_by_role("button", name="Older messages").click()
    expect(messages).to_have_count(105)
    shown = [text.split("\n")[-1] for text in messages.all_inner_texts()]
    assert shown == [f"note {number}" for number in range(1, 106)]
    expect(page.get_by_role("button", name="Older messages")).to_have_count(0)
    tab.check()
