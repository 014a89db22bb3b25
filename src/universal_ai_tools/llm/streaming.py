"""Streaming and disconnect handling shared by the OpenAI and Ollama routes.

A client that goes away must stop its generation at once, whether it is waiting in
the queue, waiting for the first token, or reading the stream.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Mapping
from typing import TypeVar

from starlette.requests import Request
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from universal_ai_tools.errors import BackendError, UAITError
from universal_ai_tools.llm.types import ChatDelta

T = TypeVar("T")


class ClientDisconnected(UAITError):
    """The client hung up before the answer was ready; nobody reads this response."""

    status_code = 499
    code = "client_closed_request"


async def _until_disconnected(receive: Receive) -> None:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return


async def cancel_on_disconnect(request: Request, work: Awaitable[T]) -> T:
    """Await `work` in this task, cancelling it if the client disconnects first.

    One watcher task cancels the request's own task on disconnect: cheaper than running
    `work` in a task of its own, which matters on the gateway's hot path.
    """
    handler = asyncio.current_task()
    assert handler is not None
    gone = False

    async def watch() -> None:
        nonlocal gone
        await _until_disconnected(request.receive)
        gone = True
        handler.cancel()

    watcher = asyncio.get_running_loop().create_task(watch())
    try:
        return await work
    except asyncio.CancelledError:
        if gone:
            handler.uncancel()
            raise ClientDisconnected("the client closed the connection") from None
        raise
    finally:
        watcher.cancel()


async def start_stream(deltas: AsyncIterator[ChatDelta]) -> AsyncIterator[ChatDelta]:
    """Wait for the first delta, so that failures before it become ordinary HTTP errors."""
    try:
        first = await anext(deltas)
    except StopAsyncIteration:
        raise BackendError("the backend ended the stream before answering") from None

    async def chained() -> AsyncIterator[ChatDelta]:
        try:
            yield first
            async for delta in deltas:
                yield delta
        finally:
            await deltas.aclose()  # type: ignore[attr-defined]

    return chained()


class ChunkStreamResponse(StreamingResponse):
    """Streams chunks while watching for the client's disconnect, and always closes the
    chunk iterator (which cancels the generation) when either side stops."""

    def __init__(
        self,
        chunks: AsyncIterator[bytes],
        *,
        media_type: str,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(chunks, media_type=media_type, headers=headers)
        self._chunks = chunks

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send(
            {"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers}
        )
        streamer = asyncio.ensure_future(self._send_all(send))
        watcher = asyncio.ensure_future(_until_disconnected(receive))
        try:
            await asyncio.wait((streamer, watcher), return_when=asyncio.FIRST_COMPLETED)
        finally:
            watcher.cancel()
            streamer.cancel()
            with contextlib.suppress(asyncio.CancelledError, OSError):
                await streamer

    async def _send_all(self, send: Send) -> None:
        try:
            async for chunk in self._chunks:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            await self._chunks.aclose()  # type: ignore[attr-defined]
