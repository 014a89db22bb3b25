"""Browser tests: Debian's headless Chromium driven by Playwright (sync API) against a
real uvicorn server. Every page fails its test on any JavaScript dialog (alert, confirm,
prompt), uncaught error, Content-Security-Policy violation or console error from the
app's own scripts. Screenshots and metrics go to tests/artifacts/."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from tests.conftest import OWNER_EMAIL, OWNER_PASSWORD
from tests.servers import LiveServer

if TYPE_CHECKING:
    from playwright.sync_api import Browser, ConsoleMessage, Dialog, Page

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
# Form controls and buttons that a screen reader could not name.
UNLABELLED = """() => [...document.querySelectorAll('input, select, textarea, button, a[href]')]
  .filter((el) => !(el.labels?.length || el.getAttribute('aria-label') || el.title
    || el.textContent.trim() || el.placeholder))
  .map((el) => el.outerHTML.slice(0, 80))"""
WAIT_MS = 60_000  # the embedded model on a busy two-core machine can be slow


def _unavailable() -> str | None:
    if not CHROMIUM.exists():
        return f"{CHROMIUM} is missing (apt-get install chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed (pip install playwright)"
    return None


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    reason = _unavailable()
    if reason is not None:
        if os.environ.get("CI", "").lower() in ("true", "1"):
            pytest.fail(f"browser tests cannot run in CI: {reason}")
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


class Tab:
    """The app in its own browser context (its own storage: another user can log in)."""

    def __init__(self, browser: Browser, server: LiveServer, viewport: dict[str, int]) -> None:
        self.server = server
        self.context = browser.new_context(viewport=viewport, base_url=server.url)  # type: ignore[arg-type]
        self.context.set_default_timeout(WAIT_MS)
        self.page: Page = self.context.new_page()
        self.problems: list[str] = []
        self.notes: list[str] = []  # errors the app reported to the user (printed on failure)
        self.page.on("dialog", self._dialog)
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda error: self.problems.append(f"uncaught error: {error}"))

    def _dialog(self, dialog: Dialog) -> None:
        self.problems.append(f"a {dialog.type} dialog opened: {dialog.message!r}")
        dialog.dismiss()

    def _console(self, message: ConsoleMessage) -> None:
        if message.type == "warning":
            self.notes.append(message.text)
        if message.type != "error":
            return
        own_script = "/ui/" in str(message.location.get("url", ""))
        network = message.text.startswith(("WebSocket connection to", "Failed to load resource"))
        if (own_script and not network) or "Content Security Policy" in message.text:
            self.problems.append(f"console error: {message.text}")

    def open(self, hash_route: str = "") -> None:
        self.page.goto(f"/{hash_route}")
        self.page.wait_for_selector("html[data-ready]")

    def login(
        self, email: str = OWNER_EMAIL, password: str = OWNER_PASSWORD, then: str | None = None
    ) -> Page:
        """Log in through the form, then go to the hash route `then`; returns the page."""
        self.open()
        self.page.get_by_label("Email").fill(email)
        self.page.get_by_label("Password").fill(password)
        self.page.get_by_role("button", name="Log in").click()
        self.page.wait_for_selector("header.top")
        if then is not None:
            self.go(then)
        return self.page

    def go(self, hash_route: str) -> None:
        """Go to a page by its hash route and wait until that page is mounted."""
        self.page.evaluate("(route) => { location.hash = route; }", hash_route)
        name = hash_route.removeprefix("#/").split("/")[0]
        self.page.wait_for_selector(f"main#main > .view[data-route={name}] > *")

    def shot(self, name: str) -> None:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(ARTIFACTS / f"{name}.png"))

    def shots(self, name: str) -> None:
        """The current page at desktop and phone widths (every control labelled first)."""
        unlabelled = self.page.evaluate(UNLABELLED)
        assert not unlabelled, f"controls without an accessible name on {name}: {unlabelled}"
        size = self.page.viewport_size
        for label, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
            self.page.set_viewport_size(viewport)  # type: ignore[arg-type]
            self.shot(f"{name}-{label}")
        if size is not None:
            self.page.set_viewport_size(size)

    def check(self) -> None:
        assert not self.problems, self.problems


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    if report.when == "call":
        item.stash[FAILED] = report.failed
    return report


FAILED = pytest.StashKey[bool]()


@pytest.fixture
def tabs(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Callable[..., Tab]]:
    """Open tabs of the app on a live server; tests end with `tab.check()`."""
    opened: list[Tab] = []

    def open_tab(server: LiveServer, viewport: dict[str, int] = DESKTOP) -> Tab:
        tab = Tab(browser, server, viewport)
        opened.append(tab)
        return tab

    yield open_tab
    failed = request.node.stash.get(FAILED, False)
    for index, tab in enumerate(opened):
        if failed:  # what the page showed when the test failed, and what it reported
            tab.shot(f"failed-{request.node.name}-{index}")
            print(f"tab {index} reported: {tab.notes}")
        tab.context.close()


def words(text: str) -> list[str]:
    return re.findall(r"[A-Za-z0-9]+", text)


def renders(source: str, shown: str) -> bool:
    """Whether `shown` (the page's text) is Markdown `source` rendered: its words are there,
    except the few that rendering removes (list numbers, link targets)."""
    visible = set(words(shown))
    expected = words(source)
    return sum(word in visible for word in expected) >= 0.9 * len(expected)


def expect(target: Any) -> Any:
    """Playwright's `expect`, imported late so that a missing playwright skips, not errors."""
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(target)


def owner_api(server: LiveServer) -> httpx.Client:
    """The first owner's logged-in HTTP client (a session, not a key: keys cannot mint keys)."""
    http = httpx.Client(base_url=server.url, timeout=60)
    response = http.post("/auth/login", json={"email": OWNER_EMAIL, "password": OWNER_PASSWORD})
    assert response.status_code == 200, response.text
    http.headers["Authorization"] = f"Bearer {response.json()['access_token']}"
    return http


def record_metrics(values: dict[str, Any]) -> None:
    """Merge into tests/artifacts/web_metrics.json (and print, for the test log)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / "web_metrics.json"
    current = json.loads(path.read_text()) if path.exists() else {}
    current.update(values)
    path.write_text(json.dumps(current, indent=2) + "\n")
    print(json.dumps(values, indent=2))
