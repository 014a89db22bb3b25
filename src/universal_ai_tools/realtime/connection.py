"""One WebSocket connection: a bounded outbound queue drained by its own writer task.

A slow consumer never slows the others: events are queued without waiting, and a
connection whose queue overflows is closed with code 4001. The queue counts as full
only while the writer is stalled (the socket stopped taking data because the client
isn't reading): a burst that the server itself queued in one go (a batch of stored
messages) is not the client's fault, and is bounded by `BURST_ALLOWANCE`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

import orjson
from starlette.websockets import WebSocket

from universal_ai_tools.auth.principal import Principal
from universal_ai_tools.db.types import new_id

SLOW_CONSUMER = 4001
BURST_ALLOWANCE = 1024  # events beyond max_queue while the writer is not stalled


class Connection:
    def __init__(
        self,
        websocket: WebSocket,
        principal: Principal,
        max_queue: int,
        on_send: Callable[[], None] | None = None,
    ) -> None:
        self.id = new_id()
        self.on_send = on_send
        self.websocket = websocket
        self.principal = principal
        self.rooms: set[str] = set()
        self.roles: dict[str, str] = {}  # room -> role at join (a removal also leaves)
        self.status = "online"
        self.max_queue = max_queue
        self._queue: asyncio.Queue[str | None] = asyncio.Queue(max_queue + BURST_ALLOWANCE)
        self._stalled = False  # the writer waits for the socket to take data
        self._replaying: dict[str, list[dict[str, Any]]] = {}
        self._room_seq: dict[str, int] = {}  # room -> the last message seq sent
        self.closed = False
        self.close_code: int | None = None
        self._writer: asyncio.Task[None] | None = None

    @property
    def user_id(self) -> str:
        return self.principal.user_id

    def start(self) -> None:
        self._writer = asyncio.get_running_loop().create_task(self._write())

    def send(self, event: dict[str, Any], encoded: str | None = None) -> None:
        """Queue an event for this client, at once; overflow closes the connection.

        `encoded` is the event already serialized (a room event is encoded once for all
        of its receivers)."""
        if self.closed:
            return
        room = event.get("room")
        if isinstance(room, str) and room in self._replaying:
            self._replaying[room].append(event)
            return
        if self._stalled and self._queue.qsize() >= self.max_queue:
            self.close(SLOW_CONSUMER)
            return
        try:
            self._queue.put_nowait(encoded if encoded is not None else orjson.dumps(event).decode())
        except asyncio.QueueFull:
            self.close(SLOW_CONSUMER)
            return
        if self.on_send is not None:
            self.on_send()

    def send_message(self, room: str, seq: int, event: dict[str, Any], encoded: str) -> None:
        """A stored message of a room, live: never one this client already has (a gap
        filled from storage after a resend, a replay that overlapped live events)."""
        if room in self._replaying:
            self._replaying[room].append(event)
            return
        if seq <= self._room_seq.get(room, 0):
            return
        self._room_seq[room] = seq
        self.send(event, encoded)

    def begin_replay(self, room: str) -> None:
        """Hold live events of a room while the missed ones are sent."""
        self._replaying[room] = []

    def end_replay_send(
        self, room: str, last_seq: int, missed: list[dict[str, Any]] | None
    ) -> None:
        """Send `joined`, then the missed messages (or `reset` when they are beyond the
        retention), then what arrived live meanwhile, each message exactly once."""
        held = self._replaying.pop(room, [])
        self.send({"type": "joined", "room": room, "last_seq": last_seq})
        if missed is None:
            self.send({"type": "reset", "room": room, "last_seq": last_seq})
        for event in missed or []:
            self.send(event)
        self._room_seq[room] = last_seq
        for event in held:
            seq = event.get("seq")
            if event.get("type") == "message" and isinstance(seq, int):
                self.send_message(room, seq, event, orjson.dumps(event).decode())
            else:
                self.send(event)

    def close(self, code: int = 1000) -> None:
        if not self.closed:
            self.closed = True
            self.close_code = code
            with contextlib.suppress(asyncio.QueueFull):
                self._queue.put_nowait(None)
            if code != 1000 and self._writer is not None:
                self._writer.cancel()
                asyncio.get_running_loop().create_task(self._close_socket(code))

    async def _close_socket(self, code: int) -> None:
        with contextlib.suppress(Exception):  # the socket may already be gone
            await self.websocket.close(code=code)

    async def _write(self) -> None:
        while True:
            item = await self._queue.get()
            if item is None:
                return
            self._stalled = True  # stays True only while the send is suspended
            try:
                await self.websocket.send_text(item)
            except Exception:  # the client is gone; the reader notices and cleans up
                self.closed = True
                return
            finally:
                self._stalled = False

    async def stop(self) -> None:
        self.close()
        if self._writer is not None:
            self._writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._writer
