"""The realtime benchmark's peer: a bare `websockets` broadcast server, one room, no storage.

It speaks the part of our protocol the benchmark uses: `{"type": "ready"}` on connect,
`join` answered with `joined`, and every `message` numbered with a counter `seq` and sent
to every joined connection (the sender included) with `websockets.broadcast`. `GET
/health` answers 200. No authentication, persistence, rate limits or per-client queues:
the ceiling a Python WebSocket fan-out can reach. Runs under bench/.venv's python:
    bench/.venv/bin/python bench/ws_peer.py --port 8765
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import http
import itertools
import json
from collections.abc import Callable
from typing import Any

from websockets.asyncio.server import ServerConnection, broadcast, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

dumps: Callable[[Any], str]
try:
    import orjson  # our server encodes with orjson too

    def dumps(value: Any) -> str:
        return orjson.dumps(value).decode()

except ImportError:  # pragma: no cover - bench/.venv has orjson

    def dumps(value: Any) -> str:
        return json.dumps(value, separators=(",", ":"))


def health(connection: ServerConnection, request: Request) -> Response | None:
    """Answers GET /health without a handshake; anything else goes on to the WebSocket."""
    if request.path.split("?", 1)[0] != "/health":
        return None
    return connection.respond(http.HTTPStatus.OK, "ok\n")


class Room:
    def __init__(self) -> None:
        self.members: set[ServerConnection] = set()
        self.seq = itertools.count(1)

    async def handler(self, ws: ServerConnection) -> None:
        await ws.send(dumps({"type": "ready"}))
        try:
            async for raw in ws:
                frame = json.loads(raw)
                kind = frame.get("type") if isinstance(frame, dict) else None
                if kind == "join":
                    self.members.add(ws)
                    await ws.send(dumps({"type": "joined", "room": frame.get("room")}))
                elif kind == "message" and ws in self.members:
                    seq = next(self.seq)
                    event = {
                        "type": "message",
                        "room": frame.get("room"),
                        "seq": seq,
                        "id": str(seq),
                        "user_id": "peer",
                        "content": frame.get("content"),
                        "client_id": frame.get("client_id"),
                        "created_at": dt.datetime.now(dt.UTC).isoformat(),
                    }
                    broadcast(self.members, dumps(event))
        except ConnectionClosed:
            pass
        finally:
            self.members.discard(ws)


async def main(port: int) -> None:
    room = Room()
    async with serve(
        room.handler,
        "127.0.0.1",
        port,
        process_request=health,
        compression=None,
        ping_interval=None,
        max_size=2**20,
    ) as server:
        await server.serve_forever()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="bare websockets broadcast server")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    loop_factory: Callable[[], asyncio.AbstractEventLoop] | None = None
    with contextlib.suppress(ImportError):
        import uvloop  # as our server runs on it

        loop_factory = uvloop.new_event_loop
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        runner.run(main(args.port))
