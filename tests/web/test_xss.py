"""Hostile text is rendered inert everywhere the app shows it: a chat message, a model's
streamed answer (from a fake upstream on loopback), an agent's description, a room
message, an agent's answer in a room and a shared file's name. Any dialog fails the test."""

from __future__ import annotations

from collections.abc import Callable

from tests.conftest import SettingsFactory
from tests.fakes import FakeOpenAI
from tests.servers import LiveServer
from tests.web.conftest import Tab, owner_api

IMG = "<img src=x onerror=alert(1)>"
JS_LINK = "[x](javascript:alert(1))"
SVG = '<svg xmlns="http://www.w3.org/2000/svg" onload="alert(2)"><script>alert(3)</script></svg>'
PAYLOAD = (
    f"{IMG} {JS_LINK} {SVG}\n\n"
    "[y](JaVaScRiPt:alert(4)) ![z](javascript:alert(5)) [t](java\tscript:alert(6)) "
    "[d](data:text/html;base64,PHNjcmlwdD5hbGVydCg3KTwvc2NyaXB0Pg==) "
    '<a href="javascript:alert(8)">a</a> [ok](https://example.com/safe)\n\n'
    "```html\n<script>alert(9)</script>\n```"
)
FILE_NAME = f"{IMG}.svg"

# Nothing active anywhere in the page, and every link is http(s), mailto or a download.
INERT = """() => {
  const active = document.querySelectorAll(
    'img, svg, iframe, object, embed, script:not([src]), [onerror], [onload], [onclick]');
  const links = [...document.querySelectorAll('a[href]')]
    .filter((a) => !['http:', 'https:', 'mailto:', 'blob:'].includes(a.protocol));
  return { active: active.length, links: links.map((a) => a.href) };
}"""

MARKDOWN = """async () => {
  const { render } = await import('/ui/js/markdown.js');
  const box = document.createElement('div');
  box.append(render('# Title\\n**bold** _it_ `code` [site](https://example.com/x) <https://a.test>\\n\\n'
    + '- one\\n- two\\n\\n1. first\\n\\n> quoted\\n\\n'
    + '```python\\ndef f(): return 1  # note\\n```'));
  return box.innerHTML;
}"""


def fake_toml(url: str) -> str:
    return f"""
[[backends]]
name = "fake"
kind = "openai"
url = "{url}/v1"

[[models]]
name = "echo"
backend = "fake"
target = "echo"
"""


def chunks(text: str, size: int = 7) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]


def assert_inert(tab: Tab, *shown: str) -> None:
    found = tab.page.evaluate(INERT)
    assert found == {"active": 0, "links": []}
    text = tab.page.locator("main").inner_text()
    for literal in shown:
        assert literal in text


def test_hostile_text_is_inert_everywhere(
    fake_openai: tuple[FakeOpenAI, str],
    make_settings: SettingsFactory,
    serve: Callable[..., LiveServer],
    tabs: Callable[..., Tab],
) -> None:
    fake, url = fake_openai
    fake.behaviour.words = chunks(PAYLOAD)  # the model's answer, split mid-tag
    server = serve(make_settings(toml=fake_toml(url)))
    tab = tabs(server)
    page = tab.login()

    # the renderer keeps ordinary Markdown
    html = page.evaluate(MARKDOWN)
    for piece in (
        "<h3>Title</h3>",
        "<strong>bold</strong>",
        "<em>it</em>",
        "<code>code</code>",
        'href="https://example.com/x" target="_blank" rel="noopener noreferrer nofollow"',
        'href="https://a.test/"',
        "<li>one</li><li>two</li>",
        "<blockquote><p>quoted</p></blockquote>",
        '<span class="tok-k">def</span>',
        '<span class="tok-c"># note</span>',
    ):
        assert piece in html

    # a chat message and the model's streamed answer
    page.get_by_label("Model").select_option("echo")
    page.get_by_label("Message", exact=True).fill(PAYLOAD)
    page.keyboard.press("Enter")
    answer = page.locator(".msg.assistant[data-message-id]")
    answer.wait_for()
    assert "onerror=alert(1)" in answer.inner_text()
    safe_link = answer.get_by_role("link", name="ok")
    assert safe_link.get_attribute("rel") == "noopener noreferrer nofollow"
    assert page.locator(".msg.user").inner_text().count("onerror=alert(1)") == 1
    assert_inert(tab, IMG, "<script>alert(9)</script>")
    tab.shot("xss-chat-desktop")

    # an agent's description (the agent answers with the fake model too)
    tab.go("#/agents")
    page.get_by_text("New agent").click()
    form = page.get_by_role("form", name="New agent")
    form.get_by_label("Name (used as @name)").fill("echoer")
    form.get_by_label("Description").fill(PAYLOAD.replace("\n", " "))
    form.get_by_label("System prompt").fill("Repeat.")
    form.get_by_label("Model").select_option("echo")
    form.get_by_role("button", name="Create agent").click()
    page.locator("li[data-agent=echoer]").wait_for()
    assert_inert(tab, IMG, SVG)

    # a room message, an agent's answer in the room, and a file's name
    api = owner_api(server)
    agent_id = api.get("/agents").json()["data"][0]["id"]
    room = api.post("/rooms", json={"name": IMG, "agents": [agent_id]}).json()
    tab.go(f"#/rooms/{room['id']}")
    page.get_by_role("heading", name=IMG).wait_for()
    page.get_by_label("Room message", exact=True).fill(f"@echoer {PAYLOAD}")
    page.keyboard.press("Enter")
    page.locator(".msg.assistant:not(.streaming)", has_text="@echoer").wait_for()
    page.get_by_label("Share a file").set_input_files(
        {"name": FILE_NAME, "mimeType": "image/svg+xml", "buffer": SVG.encode()}
    )
    page.locator(".file-name").wait_for()
    assert page.locator(".file-name").inner_text().startswith("<img")
    page.wait_for_timeout(300)  # give any injected handler the chance to fire
    assert_inert(tab, IMG, SVG)
    tab.shot("xss-room-desktop")
    tab.check()
