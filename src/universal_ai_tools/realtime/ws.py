"""`GET /ws`: the real-time protocol (see the README's "Real-time protocol")."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
from fastapi import APIRouter
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from universal_ai_tools.auth.identity import Identity
from universal_ai_tools.auth.principal import Principal
from universal_ai_tools.errors import UAITError
from universal_ai_tools.realtime.ai import AgentSessions
from universal_ai_tools.realtime.bus import room_channel, user_channel
from universal_ai_tools.realtime.connection import Connection
from universal_ai_tools.realtime.hub import Hub
from universal_ai_tools.realtime.journal import Posted
from universal_ai_tools.realtime.rooms import RoomService, message_event
from universal_ai_tools.settings import RealtimeSettings

router = APIRouter(tags=["realtime"])
POLICY_VIOLATION = 1008
TOO_BIG = 1009
MAX_VIOLATIONS = 50
MAX_IN_FLIGHT = 64
logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Realtime:
    rooms: RoomService
    hub: Hub
    sessions: AgentSessions
    settings: RealtimeSettings


class ProtocolError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class TokenBucket:
    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.capacity = float(burst)
        self.tokens = float(burst)
        self.updated = time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True


async def _authenticate(
    websocket: WebSocket, identity: Identity, wait_seconds: float
) -> Principal | None:
    token = websocket.query_params.get("token")
    if token is not None:
        try:
            return await identity.authenticator.authenticate(token)
        except UAITError:
            await websocket.close(code=POLICY_VIOLATION)  # refuses the handshake (HTTP 403)
            return None
    await websocket.accept()
    try:
        raw = await asyncio.wait_for(websocket.receive_text(), wait_seconds)
        first = orjson.loads(raw)
        if not isinstance(first, dict) or first.get("type") != "auth":
            raise ValueError("the first message must authenticate")
        return await identity.authenticator.authenticate(str(first.get("token", "")))
    except (TimeoutError, ValueError, UAITError, orjson.JSONDecodeError, WebSocketDisconnect):
        with contextlib.suppress(Exception):
            await websocket.send_text(
                orjson.dumps(
                    {"type": "error", "code": "unauthorized", "message": "authenticate first"}
                ).decode()
            )
            await websocket.close(code=POLICY_VIOLATION)
        return None


@router.websocket("/ws")
async def websocket_endpoint(websocket: WebSocket) -> None:
    realtime: Realtime = websocket.app.state.realtime
    identity: Identity = websocket.app.state.identity
    settings = realtime.settings
    principal = await _authenticate(websocket, identity, settings.auth_timeout_seconds)
    if principal is None:
        return
    if websocket.client_state == WebSocketState.CONNECTING:
        await websocket.accept()
    metrics = websocket.app.state.metrics
    connection = Connection(
        websocket,
        principal,
        settings.max_queue,
        on_send=metrics.ws_messages.labels("out").inc,
    )
    connection.start()
    metrics.ws_connections.inc()
    realtime.hub.connect(connection)
    session = Session(realtime, connection, on_receive=metrics.ws_messages.labels("in").inc)
    connection.send({"type": "ready", "user_id": principal.user_id, "connection_id": connection.id})
    if principal.device_id:
        await session.device_status("online")
    try:
        await session.serve()
    finally:
        metrics.ws_connections.dec()
        await realtime.hub.disconnect(connection)
        if principal.device_id:
            await session.device_status("offline")
        await connection.stop()


class Session:
    """Reads one client's frames and acts on them."""

    def __init__(
        self, realtime: Realtime, connection: Connection, on_receive: Callable[[], None]
    ) -> None:
        self.on_receive = on_receive
        self.realtime = realtime
        self.connection = connection
        self.principal = connection.principal
        self.bucket = TokenBucket(realtime.settings.messages_per_second, realtime.settings.burst)
        self.violations = 0
        self.in_flight = asyncio.Semaphore(MAX_IN_FLIGHT)  # messages submitted, not yet stored
        self.acknowledging: set[asyncio.Task[None]] = set()

    async def device_status(self, status: str) -> None:
        event = {"type": "device.status", "device_id": self.principal.device_id, "status": status}
        await self.realtime.hub.bus.publish(user_channel(self.principal.user_id), event)

    def error(self, code: str, message: str) -> None:
        self.connection.send({"type": "error", "code": code, "message": message})

    async def serve(self) -> None:
        websocket = self.connection.websocket
        while not self.connection.closed:
            try:
                message = await websocket.receive()
            except (WebSocketDisconnect, RuntimeError):
                return
            if message["type"] == "websocket.disconnect":
                return
            self.on_receive()
            raw = message.get("text") or (message.get("bytes") or b"").decode("utf-8", "replace")
            if len(raw.encode()) > self.realtime.settings.max_frame_bytes:
                self.error(
                    "frame_too_large",
                    f"frames are limited to {self.realtime.settings.max_frame_bytes} bytes",
                )
                await websocket.close(code=TOO_BIG)
                return
            if not self.bucket.take():
                self.violations += 1
                self.error("rate_limited", "too many messages; slow down")
                if self.violations > MAX_VIOLATIONS:
                    await websocket.close(code=POLICY_VIOLATION)
                    return
                continue
            try:
                frame = orjson.loads(raw)
                if not isinstance(frame, dict):
                    raise ProtocolError("invalid_frame", "frames are JSON objects with a type")
                await self.handle(frame)
            except orjson.JSONDecodeError:
                self.error("invalid_json", "the frame is not valid JSON")
            except ProtocolError as exc:
                self.error(exc.code, exc.message)
            except UAITError as exc:
                self.error(exc.code, exc.message)

    def _room(self, frame: dict[str, Any]) -> str:
        room = frame.get("room")
        if not isinstance(room, str) or not room or len(room) > 64:
            raise ProtocolError("invalid_frame", "`room` must be a room id")
        return room

    async def handle(self, frame: dict[str, Any]) -> None:
        kind = frame.get("type")
        handlers = {
            "join": self.join,
            "leave": self.leave,
            "message": self.message,
            "typing": self.typing,
            "read": self.read,
            "presence": self.presence,
            "cancel": self.cancel,
            "ping": self.ping,
        }
        handler = handlers.get(kind) if isinstance(kind, str) else None
        if handler is None:
            raise ProtocolError("unknown_type", f"unknown frame type {kind!r}")
        await handler(frame)

    async def ping(self, frame: dict[str, Any]) -> None:
        self.connection.send({"type": "pong"})

    async def join(self, frame: dict[str, Any]) -> None:
        room = self._room(frame)
        rooms = self.realtime.rooms
        _, member = await rooms.membership(self.principal, room)  # 404 for non-members
        self.connection.roles[room] = member.role
        since = frame.get("since")
        if since is not None and (not isinstance(since, int) or since < 0):
            raise ProtocolError("invalid_frame", "`since` must be a sequence number")
        self.connection.begin_replay(room)
        await self.realtime.hub.join(self.connection, room)
        last_seq, missed = await rooms.since(room, since if since is not None else 0)
        self.realtime.hub.sequencer.start(room, last_seq)
        if since is None:
            missed = []
        self.connection.end_replay_send(
            room, last_seq, [message_event(m) for m in missed] if missed is not None else None
        )

    async def leave(self, frame: dict[str, Any]) -> None:
        await self.realtime.hub.leave(self.connection, self._room(frame))
        self.connection.send({"type": "left", "room": self._room(frame)})

    async def _joined(self, frame: dict[str, Any]) -> str:
        room = self._room(frame)
        if room not in self.connection.rooms:
            raise ProtocolError("not_joined", "join the room first")
        return room

    async def message(self, frame: dict[str, Any]) -> None:
        room = await self._joined(frame)
        content, client_id = frame.get("content"), frame.get("client_id")
        limit = self.realtime.settings.max_message_chars
        if not isinstance(content, str) or not content.strip() or len(content) > limit:
            raise ProtocolError("invalid_message", f"`content` must be 1 to {limit} characters")
        if client_id is not None and (not isinstance(client_id, str) or len(client_id) > 64):
            raise ProtocolError(
                "invalid_message", "`client_id` must be a string of 64 characters at most"
            )
        if self.connection.roles.get(room) == "read-only" or not self.principal.at_least("member"):
            raise ProtocolError("forbidden", "you may read this room but not write to it")
        await self.in_flight.acquire()  # a client that sends faster than we store waits
        stored = self.realtime.rooms.submit(
            room, content, user_id=self.principal.user_id, client_id=client_id
        )
        acknowledge = asyncio.get_running_loop().create_task(self._acknowledge(stored, client_id))
        self.acknowledging.add(acknowledge)
        acknowledge.add_done_callback(self.acknowledging.discard)

    async def _acknowledge(self, stored: asyncio.Future[Posted], client_id: str | None) -> None:
        """The stored message's event is the acknowledgement (the bus brings it); a resend
        is acknowledged here with the message stored before; then agents may answer."""
        try:
            posted = await asyncio.shield(stored)
        except UAITError as exc:
            self.connection.send(
                {"type": "error", "code": exc.code, "message": exc.message, "client_id": client_id}
            )
            return
        except Exception:
            logger.exception("a room message was not stored")
            self.connection.send(
                {
                    "type": "error",
                    "code": "not_stored",
                    "message": "the message was not stored; send it again",
                    "client_id": client_id,
                }
            )
            return
        finally:
            self.in_flight.release()
        if not posted.created:
            self.connection.send(message_event(posted.message))
            return
        await self.realtime.sessions.on_message(self.principal, posted)

    async def typing(self, frame: dict[str, Any]) -> None:
        room = await self._joined(frame)
        event = {
            "type": "typing",
            "room": room,
            "user_id": self.principal.user_id,
            "state": bool(frame.get("state", True)),
            "origin": self.connection.id,
        }
        await self.realtime.hub.bus.publish(room_channel(room), event)

    async def read(self, frame: dict[str, Any]) -> None:
        room = await self._joined(frame)
        seq = frame.get("seq")
        if not isinstance(seq, int) or seq < 0:
            raise ProtocolError("invalid_frame", "`seq` must be a sequence number")
        await self.realtime.rooms.mark_read(self.principal, room, seq)
        event = {"type": "read", "room": room, "user_id": self.principal.user_id, "seq": seq}
        await self.realtime.hub.bus.publish(room_channel(room), event)

    async def presence(self, frame: dict[str, Any]) -> None:
        status = frame.get("status")
        if status not in ("online", "idle"):
            raise ProtocolError("invalid_frame", "`status` is online or idle")
        self.connection.status = str(status)
        for room in list(self.connection.rooms):
            await self.realtime.hub.set_presence(self.principal.user_id, room, str(status))

    async def cancel(self, frame: dict[str, Any]) -> None:
        room = await self._joined(frame)
        generation = frame.get("generation_id")
        if not isinstance(generation, str):
            raise ProtocolError("invalid_frame", "`generation_id` is required")
        await self.realtime.sessions.cancel(room, generation)
