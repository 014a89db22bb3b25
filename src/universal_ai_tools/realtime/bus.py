"""Fan-out of room events between connections, behind a small pub/sub protocol.

In one process the `LocalBus` delivers directly; in scale-out mode a Redis bus delivers
the same events to every process, so any instance can serve any room.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Protocol

Event = dict[str, Any]
Listener = Callable[[Event], Awaitable[None]]


class EventBus(Protocol):
    async def publish(self, channel: str, event: Event) -> None: ...

    def subscribe(self, channel: str, listener: Listener) -> None: ...

    def unsubscribe(self, channel: str, listener: Listener) -> None: ...

    async def close(self) -> None: ...


class LocalBus:
    def __init__(self) -> None:
        self._listeners: dict[str, list[Listener]] = {}

    async def publish(self, channel: str, event: Event) -> None:
        for listener in list(self._listeners.get(channel, ())):
            await listener(event)

    def subscribe(self, channel: str, listener: Listener) -> None:
        self._listeners.setdefault(channel, []).append(listener)

    def unsubscribe(self, channel: str, listener: Listener) -> None:
        listeners = self._listeners.get(channel)
        if listeners and listener in listeners:
            listeners.remove(listener)
            if not listeners:
                del self._listeners[channel]

    async def close(self) -> None:
        self._listeners.clear()


def room_channel(room_id: str) -> str:
    return f"room:{room_id}"


def user_channel(user_id: str) -> str:
    return f"user:{user_id}"
