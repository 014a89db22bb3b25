"""The web app's static files: served at `/` and `/ui/...` without credentials, with a
strict Content-Security-Policy, and nothing else reachable through them."""

from __future__ import annotations

import tomllib
from pathlib import Path, PurePosixPath

import httpx
import pytest

from universal_ai_tools.web.router import ASSETS


async def test_index_is_served_with_a_strict_policy(anon: httpx.AsyncClient) -> None:
    response = await anon.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["x-content-type-options"] == "nosniff"
    policy = response.headers["content-security-policy"]
    for directive in (
        "default-src 'self'",
        "script-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
        "img-src 'self' data: blob:",
        "connect-src 'self' ws://testserver wss://testserver",
    ):
        assert directive in policy
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    assert '<script type="module" src="/ui/js/app.js">' in response.text


@pytest.mark.parametrize(
    ("path", "kind"),
    [("/ui/js/app.js", "text/javascript"), ("/ui/app.css", "text/css")],
)
async def test_assets_have_their_content_types(
    anon: httpx.AsyncClient, path: str, kind: str
) -> None:
    response = await anon.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith(kind)
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "content-security-policy" in response.headers


@pytest.mark.parametrize(
    "path",
    [
        "/ui/nope.js",
        "/ui/../app.py",
        "/ui/%2e%2e/router.py",
        "/ui/js/..%2f..%2frouter.py",
        "/ui/..%2F__init__.py",
        "/ui/",
        "/ui/js",
        "/ui//etc/passwd",
    ],
)
async def test_unknown_and_traversing_paths_are_404_json(
    anon: httpx.AsyncClient, path: str
) -> None:
    response = await anon.get(path)
    assert response.status_code == 404
    assert response.json()["error"]["type"] == "not_found_error"
    assert "import" not in response.text


async def test_unchanged_assets_are_revalidated_with_an_etag(anon: httpx.AsyncClient) -> None:
    first = await anon.get("/ui/js/app.js")
    etag = first.headers["etag"]
    again = await anon.get("/ui/js/app.js", headers={"if-none-match": etag})
    assert again.status_code == 304 and again.content == b""
    other = await anon.get("/ui/app.css", headers={"if-none-match": etag})
    assert other.status_code == 200 and other.content


def test_only_static_files_are_shipped() -> None:
    assert "index.html" in ASSETS
    assert all(not name.endswith(".py") for name in ASSETS)


async def test_the_ui_does_not_shadow_the_api(anon: httpx.AsyncClient) -> None:
    assert (await anon.get("/health")).json() == {"status": "ok"}
    refused = await anon.get("/v1/models")
    assert refused.status_code == 401
    assert refused.json()["error"]["type"] == "authentication_error"


async def test_a_forged_host_does_not_reach_the_policy(anon: httpx.AsyncClient) -> None:
    response = await anon.get("/", headers={"host": "evil; script-src *"})
    policy = response.headers["content-security-policy"]
    assert "evil" not in policy and "script-src *" not in policy


def test_every_static_file_ships_in_the_wheel() -> None:
    """pyproject's package-data globs cover every file the app serves."""
    root = Path(__file__).resolve().parents[2]
    globs = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"][
        "package-data"
    ]["universal_ai_tools"]
    for name in ASSETS:
        shipped = PurePosixPath(f"web/static/{name}")
        assert any(shipped.match(pattern) for pattern in globs), name
