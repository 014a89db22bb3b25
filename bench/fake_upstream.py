"""A minimal fake OpenAI-compatible upstream for the benchmarks, in raw asyncio.

Every answer is precomputed bytes and the HTTP parsing is the least that works
(HTTP/1.1 keep-alive, Content-Length request bodies), so that the upstream costs almost
no CPU next to the gateway under test.

    POST /v1/chat/completions   a fixed chat.completion, or with "stream": true an SSE
                                stream of 20 chat.completion.chunk chunks and [DONE]
    GET  /v1/models             one model

Run: python bench/fake_upstream.py --port N
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import re
from typing import Any, cast

from common import run_async

CHUNKS = 20
CREATED = 1_700_000_000
MODEL = "fake-model"
_STREAM_RE = re.compile(rb'"stream"\s*:\s*true')


def _response(status: str, content_type: str, body: bytes) -> bytes:
    head = (
        f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {len(body)}\r\nConnection: keep-alive\r\n\r\n"
    )
    return head.encode() + body


def _json(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def _completion() -> bytes:
    body = {
        "id": "chatcmpl-bench",
        "object": "chat.completion",
        "created": CREATED,
        "model": MODEL,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "Hello! How can I help you today?"},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 9, "completion_tokens": 9, "total_tokens": 18},
    }
    return _response("200 OK", "application/json", _json(body))


def _chunk(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


def _stream() -> bytes:
    head = (
        b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
        b"Transfer-Encoding: chunked\r\nConnection: keep-alive\r\n\r\n"
    )
    parts = [head]
    for i in range(CHUNKS):
        delta: dict[str, str] = {"content": f"tok{i} "}
        if i == 0:
            delta = {"role": "assistant", **delta}
        chunk = {
            "id": "chatcmpl-bench",
            "object": "chat.completion.chunk",
            "created": CREATED,
            "model": MODEL,
            "choices": [
                {"index": 0, "delta": delta, "finish_reason": "stop" if i == CHUNKS - 1 else None}
            ],
        }
        parts.append(_chunk(b"data: " + _json(chunk) + b"\n\n"))
    parts.append(_chunk(b"data: [DONE]\n\n"))
    parts.append(b"0\r\n\r\n")
    return b"".join(parts)


COMPLETION = _completion()
STREAM = _stream()
MODELS = _response(
    "200 OK",
    "application/json",
    _json(
        {
            "object": "list",
            "data": [{"id": MODEL, "object": "model", "created": CREATED, "owned_by": "bench"}],
        }
    ),
)
NOT_FOUND = _response("404 Not Found", "application/json", _json({"error": {"message": "no"}}))
BAD_REQUEST = b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
MAX_HEAD = 64 * 1024


class UpstreamProtocol(asyncio.Protocol):
    """One connection: parses pipelined requests from a buffer and answers each."""

    def __init__(self) -> None:
        self.buf = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while self.transport is not None and not self.transport.is_closing():
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                if len(self.buf) > MAX_HEAD:
                    self._fail()
                return
            head = self.buf[:end].decode("latin-1")
            lines = head.split("\r\n")
            parts = lines[0].split(" ")
            if len(parts) != 3:
                self._fail()
                return
            length, close = 0, False
            for line in lines[1:]:
                key, _, value = line.partition(":")
                key = key.strip().lower()
                if key == "content-length":
                    length = int(value.strip() or "0")
                elif key == "connection":
                    close = value.strip().lower() == "close"
            if len(self.buf) < end + 4 + length:
                return
            body = self.buf[end + 4 : end + 4 + length]
            self.buf = self.buf[end + 4 + length :]
            self.transport.write(self._answer(parts[0], parts[1], body))
            if close:
                self.transport.close()

    def _fail(self) -> None:
        if self.transport is not None:
            self.transport.write(BAD_REQUEST)
            self.transport.close()

    @staticmethod
    def _answer(method: str, path: str, body: bytes) -> bytes:
        path = path.split("?", 1)[0]
        if method == "POST" and path == "/v1/chat/completions":
            return STREAM if _STREAM_RE.search(body) else COMPLETION
        if method == "GET" and path == "/v1/models":
            return MODELS
        return NOT_FOUND


async def serve(host: str, port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(UpstreamProtocol, host, port, backlog=1024)
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=18080)
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        run_async(serve(args.host, args.port))


if __name__ == "__main__":
    main()
