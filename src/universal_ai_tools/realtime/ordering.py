"""A room's messages reach this process's connections in `seq` order, once each.

With several processes, messages of one room are numbered in storage (a row lock orders
them) but published by whichever process stored them, so they can arrive here out of
order; while Redis is away some never arrive. The sequencer delivers a message only
after the one before it: a message that comes early waits, and a gap still open after
`gap_wait` seconds is filled from storage (where every message with a smaller `seq` is
already committed, since the room's row lock orders the transactions).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from universal_ai_tools.realtime.bus import Event

logger = logging.getLogger(__name__)

GAP_WAIT = 0.5  # seconds a gap may stay open before storage is asked
MAX_HELD = 10_000  # messages held per room while waiting for a gap

# (room, after seq) -> (the room's last seq, the messages after it; None: beyond retention)
LoadAfter = Callable[[str, int], Awaitable[tuple[int, list[Event] | None]]]
Deliver = Callable[[str, Event], None]


@dataclass
class RoomOrder:
    last: int | None = None  # None until a local join says where the room stands
    held: dict[int, Event] = field(default_factory=dict)
    filling: asyncio.Task[None] | None = None


class Sequencer:
    def __init__(self, load_after: LoadAfter, deliver: Deliver, gap_wait: float = GAP_WAIT):
        self._load_after = load_after
        self._deliver = deliver
        self.gap_wait = gap_wait
        self._rooms: dict[str, RoomOrder] = {}

    def start(self, room: str, last_seq: int) -> None:
        """The first local join read the room's last seq: deliver from there on."""
        order = self._rooms.setdefault(room, RoomOrder())
        if order.last is None:
            order.last = last_seq
            self._flush(room, order)

    def stop(self, room: str) -> None:
        """No local connection is in the room any more."""
        order = self._rooms.pop(room, None)
        if order is not None and order.filling is not None:
            order.filling.cancel()

    def offer(self, room: str, event: Event) -> None:
        seq = event.get("seq")
        if not isinstance(seq, int):
            self._deliver(room, event)
            return
        order = self._rooms.setdefault(room, RoomOrder())
        if order.last is not None and seq <= order.last:
            return  # delivered already (or replayed from storage to whoever joined)
        if len(order.held) >= MAX_HELD:
            order.held.pop(min(order.held))
        order.held[seq] = event
        if order.last is not None:
            self._flush(room, order)

    def _flush(self, room: str, order: RoomOrder) -> None:
        assert order.last is not None
        for seq in [s for s in order.held if s <= order.last]:
            del order.held[seq]
        while order.last + 1 in order.held:
            order.last += 1
            self._deliver(room, order.held.pop(order.last))
        if order.held and order.filling is None:
            order.filling = asyncio.get_running_loop().create_task(self._fill(room, order))

    async def _fill(self, room: str, order: RoomOrder) -> None:
        try:
            await asyncio.sleep(self.gap_wait)
            if order.held and order.last is not None:
                _, stored = await self._load_after(room, order.last)
                if stored is None:  # beyond retention: go on from the oldest held
                    order.last = min(order.held) - 1
                for event in stored or []:
                    order.held.setdefault(int(str(event["seq"])), event)
        except Exception:  # storage unreachable: the next message tries again
            logger.exception("could not fill a gap in room %s from storage", room)
        finally:
            order.filling = None
        if self._rooms.get(room) is order and order.last is not None:
            self._flush(room, order)
