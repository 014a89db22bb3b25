"""`/` and `/ui/...`: the web app's static files, with a strict Content-Security-Policy.

The files are listed once, at import, from the package's `static/` folder: a request can
only ever name one of them, so no path (`..`, encoded slashes, links) reaches anything
else. They need no credentials; every API call the app makes carries its access token.
"""

from __future__ import annotations

import re
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import PurePosixPath

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


def _load_assets() -> dict[str, tuple[bytes, str]]:
    """Every shipped file by its path under `static/`, with its content type."""
    root = files(__package__ or "universal_ai_tools.web").joinpath("static")
    assets: dict[str, tuple[bytes, str]] = {}

    def walk(folder: Traversable, prefix: str) -> None:
        for entry in folder.iterdir():
            name = f"{prefix}{entry.name}"
            if entry.is_dir():
                walk(entry, f"{name}/")
            elif (kind := TYPES.get(PurePosixPath(name).suffix)) is not None:
                assets[name] = (entry.read_bytes(), kind)

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
    body, kind = found
    headers = {
        "Content-Security-Policy": content_security_policy(request.headers.get("host")),
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "Cache-Control": "no-cache",
    }
    return Response(body, media_type=kind, headers=headers)


@router.get("/")
async def index(request: Request) -> Response:
    return _asset(request, "index.html")


@router.get("/ui/{name:path}")
async def asset(name: str, request: Request) -> Response:
    return _asset(request, name)
