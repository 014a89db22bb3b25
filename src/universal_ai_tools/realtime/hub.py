"""The connections of this process, which rooms they joined, and presence.

Room events arrive through the bus (from this process or another) and are handed to
the local connections that joined the room; stored messages go through the room's
`Sequencer`, so they reach the connections in `seq` order, once each, with no gap.
"""

from __future__ import annotations

from typing import Any

import orjson

from universal_ai_tools.realtime.bus import Event, EventBus, Listener, room_channel, user_channel
from universal_ai_tools.realtime.connection import Connection
from universal_ai_tools.realtime.ordering import LoadAfter, Sequencer


class Hub:
    def __init__(self, bus: EventBus, load_after: LoadAfter) -> None:
        self.bus = bus
        self.sequencer = Sequencer(load_after, self._fan_out)
        self._by_room: dict[str, set[Connection]] = {}
        self._by_user: dict[str, set[Connection]] = {}
        self.presence: dict[str, dict[str, str]] = {}  # room -> user -> status, all instances
        self._user_listeners: dict[str, Listener] = {}

    @property
    def connection_count(self) -> int:
        return sum(len(c) for c in self._by_user.values())

    def connect(self, connection: Connection) -> None:
        first = connection.user_id not in self._by_user
        self._by_user.setdefault(connection.user_id, set()).add(connection)
        if first:
            listener = self._user_listener(connection.user_id)
            self._user_listeners[connection.user_id] = listener
            self.bus.subscribe(user_channel(connection.user_id), listener)

    async def disconnect(self, connection: Connection) -> None:
        for room in list(connection.rooms):
            await self.leave(connection, room)
        connections = self._by_user.get(connection.user_id, set())
        connections.discard(connection)
        if not connections:
            self._by_user.pop(connection.user_id, None)
            listener = self._user_listeners.pop(connection.user_id, None)
            if listener is not None:
                self.bus.unsubscribe(user_channel(connection.user_id), listener)

    def _user_in_room(self, user_id: str, room: str) -> bool:
        return any(c.user_id == user_id for c in self._by_room.get(room, ()))

    async def join(self, connection: Connection, room: str) -> None:
        if room in connection.rooms:
            return
        was_there = self._user_in_room(connection.user_id, room)
        if room not in self._by_room:
            self._by_room[room] = set()
            self.bus.subscribe(room_channel(room), self._on_room_event)
        self._by_room[room].add(connection)
        connection.rooms.add(room)
        connection.send(
            {"type": "presence.snapshot", "room": room, "users": self.presence.get(room, {})}
        )
        if not was_there:
            await self.set_presence(connection.user_id, room, connection.status)

    async def leave(self, connection: Connection, room: str, *, announce: bool = True) -> None:
        connection.rooms.discard(room)
        members = self._by_room.get(room)
        if members is None:
            return
        members.discard(connection)
        if not members:
            del self._by_room[room]
            self.bus.unsubscribe(room_channel(room), self._on_room_event)
            self.sequencer.stop(room)
        if announce and not self._user_in_room(connection.user_id, room):
            await self.set_presence(connection.user_id, room, "offline")

    async def set_presence(self, user_id: str, room: str, status: str) -> None:
        event = {"type": "presence", "room": room, "user_id": user_id, "status": status}
        await self.bus.publish(room_channel(room), event)

    async def _on_room_event(self, event: Event) -> None:
        room = str(event.get("room"))
        if event.get("type") == "presence":
            users = self.presence.setdefault(room, {})
            if event["status"] == "offline":
                users.pop(str(event["user_id"]), None)
            else:
                users[str(event["user_id"])] = str(event["status"])
        if event.get("type") == "member.removed":
            await self._remove_member(room, str(event["user_id"]))
        if event.get("type") == "member.updated":  # a new room role applies at once
            for connection in self._by_room.get(room, ()):
                if connection.user_id == event["user_id"]:
                    connection.roles[room] = str(event["role"])
        if event.get("type") == "message":
            self.sequencer.offer(room, event)
        else:
            self._fan_out(room, event)

    def _fan_out(self, room: str, event: Event) -> None:
        origin = event.get("origin")
        public = {k: v for k, v in event.items() if k != "origin"}
        encoded = orjson.dumps(public).decode()  # once, whatever the number of receivers
        seq = public.get("seq") if public.get("type") == "message" else None
        for connection in list(self._by_room.get(room, ())):
            if isinstance(seq, int):
                connection.send_message(room, seq, public, encoded)
            elif origin is None or connection.id != origin:
                connection.send(public, encoded)

    async def _remove_member(self, room: str, user_id: str) -> None:
        for connection in [c for c in self._by_room.get(room, ()) if c.user_id == user_id]:
            await self.leave(connection, room, announce=False)
            connection.send({"type": "removed", "room": room})
        if not self._user_in_room(user_id, room):
            self.presence.get(room, {}).pop(user_id, None)

    def _user_listener(self, user_id: str) -> Listener:
        async def deliver(event: Event) -> None:
            for connection in list(self._by_user.get(user_id, ())):
                connection.send(event)

        return deliver

    def local_connections(self, user_id: str) -> set[Connection]:
        return set(self._by_user.get(user_id, ()))

    def send_to_user(self, user_id: str, event: dict[str, Any]) -> None:
        for connection in self._by_user.get(user_id, ()):
            connection.send(event)
