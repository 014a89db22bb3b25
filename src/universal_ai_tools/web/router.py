"""`/` and `/ui/...`: the web app's static files, with a strict Content-Security-Policy.

The files are listed once, at import, from the package's `static/` folder: a request can
only ever name one of them, so no path (`..`, encoded slashes, links) reaches anything
else. They need no credentials; every API call the app makes carries its access token.
"""

from __future__ import annotations

import hashlib
import re
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import PurePosixPath
from typing import NamedTuple

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from universal_ai_tools.errors import NotFound

router = APIRouter(include_in_schema=False)

TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
}
_HOST = re.compile(r"^[A-Za-z0-9.\-]+(:\d{1,5})?$|^\[[0-9A-Fa-f:.]+\](:\d{1,5})?$")


class Asset(NamedTuple):
    body: bytes
    content_type: str
    etag: str


def _load_assets() -> dict[str, Asset]:
    """Every shipped file by its path under `static/`, with its content type and ETag."""
    root = files(__package__ or "universal_ai_tools.web").joinpath("static")
    assets: dict[str, Asset] = {}

    def walk(folder: Traversable, prefix: str) -> None:
        for entry in folder.iterdir():
            name = f"{prefix}{entry.name}"
            if entry.is_dir():
                walk(entry, f"{name}/")
            elif (kind := TYPES.get(PurePosixPath(name).suffix)) is not None:
                body = entry.read_bytes()
                assets[name] = Asset(body, kind, f'"{hashlib.sha256(body).hexdigest()[:20]}"')

    walk(root, "")
    return assets


ASSETS = _load_assets()


def content_security_policy(host: str | None) -> str:
    """Scripts, styles and connections from this origin only (plus its WebSocket)."""
    sockets = f" ws://{host} wss://{host}" if host and _HOST.match(host) else ""
    return (
        "default-src 'self'; script-src 'self'; style-src 'self'; "
        "img-src 'self' data: blob:; font-src 'self'; "
        f"connect-src 'self'{sockets}; object-src 'none'; base-uri 'none'; "
        "frame-ancestors 'none'; form-action 'self'"
    )


def _asset(request: Request, name: str) -> Response:
    found = ASSETS.get(name)
    if found is None:
        raise NotFound(f"no such file: /ui/{name}"[:200])
    headers = {
        "Content-Security-Policy": content_security_policy(request.headers.get("host")),
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "Cache-Control": "no-cache",  # revalidated each time: a new release shows at once
        "ETag": found.etag,
    }
    if request.headers.get("if-none-match") == found.etag:
        return Response(status_code=304, headers=headers)
    return Response(found.body, media_type=found.content_type, headers=headers)


@router.get("/")
async def index(request: Request) -> Response:
    return _asset(request, "index.html")


@router.get("/ui/{name:path}")
async def asset(name: str, request: Request) -> Response:
    return _asset(request, name)
