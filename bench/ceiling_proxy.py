"""The ceiling: the barest Starlette + aiohttp passthrough to the upstream in UPSTREAM_URL.

Run: UPSTREAM_URL=http://127.0.0.1:N/v1 bench/.venv/bin/uvicorn ceiling_proxy:app \
        --app-dir bench --loop uvloop --http httptools --no-access-log --port P
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

UPSTREAM = os.environ.get("UPSTREAM_URL", "http://127.0.0.1:18080/v1")
state: dict[str, aiohttp.ClientSession] = {}


@asynccontextmanager
async def lifespan(_: Starlette) -> AsyncIterator[None]:
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=256)) as session:
        state["session"] = session
        yield


async def chat(request: Request) -> Response:
    up = await state["session"].post(
        f"{UPSTREAM}/chat/completions",
        data=await request.body(),
        headers={"Content-Type": "application/json"},
    )
    ctype = up.headers.get("Content-Type", "application/json")
    if ctype.startswith("text/event-stream"):
        release = BackgroundTask(up.release)
        return StreamingResponse(
            up.content.iter_any(), up.status, media_type=ctype, background=release
        )
    async with up:
        return Response(await up.read(), up.status, media_type=ctype)


async def health(_: Request) -> Response:
    return Response(b"ok")


app = Starlette(
    routes=[Route("/v1/chat/completions", chat, methods=["POST"]), Route("/health", health)],
    lifespan=lifespan,
)
