"""Room messages are stored with group commit: one transaction for all that are waiting.

Every room has at most one writer task in a process. A message waits in the room's
queue; the writer takes everything queued, stores it in one transaction (numbering it
with one `UPDATE rooms SET last_seq = last_seq + n RETURNING last_seq`, which is also a
row lock across processes), then publishes the messages in `seq` order and wakes each
sender. A sender is acknowledged only after the commit, so nothing acknowledged is
lost; a burst of messages from many senders costs a few transactions instead of one
each, and events leave the process in `seq` order without a lock.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import insert, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from universal_ai_tools.db.types import new_id, utcnow
from universal_ai_tools.errors import NotFound
from universal_ai_tools.realtime.bus import EventBus, room_channel
from universal_ai_tools.realtime.models import Room, RoomAgent, RoomMessage

MAX_BATCH = 256


@dataclass(frozen=True, slots=True)
class AgentLink:
    agent_id: str
    auto_reply: bool


@dataclass(frozen=True, slots=True)
class Posted:
    message: RoomMessage
    created: bool  # False when a resend with the same client_id found the stored one
    agents: tuple[AgentLink, ...] = ()  # the room's agents when the message was stored


@dataclass(slots=True)
class Draft:
    content: str
    user_id: str | None
    agent_id: str | None
    client_id: str | None
    kind: str = "message"
    file_id: str | None = None
    done: asyncio.Future[Posted] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )

    @property
    def key(self) -> tuple[str, str] | None:
        """What makes a resend the same message: its sender and client_id."""
        if self.user_id is None or self.client_id is None:
            return None
        return self.user_id, self.client_id


def message_event(message: RoomMessage) -> dict[str, Any]:
    event: dict[str, Any] = {
        "type": "message",
        "room": message.room_id,
        "seq": message.seq,
        "id": message.id,
        "user_id": message.user_id,
        "content": message.content,
        "client_id": message.client_id,
        "created_at": message.created_at.isoformat(),
    }
    if message.agent_id:
        event["agent_id"] = message.agent_id
    if message.file_id:
        event["file_id"] = message.file_id
    return event


class MessageJournal:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], bus: EventBus) -> None:
        self.sessions = sessions
        self.bus = bus
        self._queues: dict[str, list[Draft]] = {}
        self._writers: dict[str, asyncio.Task[None]] = {}

    def submit(self, room_id: str, draft: Draft) -> asyncio.Future[Posted]:
        """Queue a message at once (messages of a room are stored in the order they were
        submitted); the future resolves when it is stored and published."""
        self._queues.setdefault(room_id, []).append(draft)
        if room_id not in self._writers:
            self._writers[room_id] = asyncio.get_running_loop().create_task(self._write(room_id))
        return draft.done

    async def post(self, room_id: str, draft: Draft) -> Posted:
        # shielded: a sender that goes away doesn't undo a message being stored
        return await asyncio.shield(self.submit(room_id, draft))

    def _take(self, room_id: str) -> list[Draft]:
        queue = self._queues.get(room_id)
        if not queue:
            self._queues.pop(room_id, None)
            return []
        batch = queue[:MAX_BATCH]
        del queue[:MAX_BATCH]
        return batch

    async def _write(self, room_id: str) -> None:
        batch: list[Draft] = []
        try:
            while batch := self._take(room_id):
                try:
                    results = await self._store(room_id, batch)
                    for posted in results:
                        if posted.created:
                            event = message_event(posted.message)
                            await self.bus.publish(room_channel(room_id), event)
                except Exception as exc:  # each waiting sender gets the error
                    for draft in batch:
                        draft.done.set_exception(exc)
                    continue
                for draft, posted in zip(batch, results, strict=True):
                    draft.done.set_result(posted)
        except asyncio.CancelledError:
            for draft in batch + self._queues.pop(room_id, []):
                draft.done.cancel()
            raise
        finally:
            self._writers.pop(room_id, None)

    async def _store(self, room_id: str, batch: list[Draft]) -> list[Posted]:
        async with self.sessions.begin() as session:
            known = await self._stored(session, room_id, batch)
            fresh: list[Draft] = []
            for draft in batch:
                if draft.key is None or draft.key not in known:
                    fresh.append(draft)
                if draft.key is not None:
                    known.setdefault(draft.key, None)  # later resends in the batch: not fresh
            stored = await self._insert(session, room_id, fresh)
            links = await session.execute(
                select(RoomAgent.agent_id, RoomAgent.auto_reply).where(
                    RoomAgent.room_id == room_id
                )
            )
            agents = tuple(AgentLink(agent_id, auto) for agent_id, auto in links.all())
        created = {id(draft): message for draft, message in zip(fresh, stored, strict=True)}
        for draft, message in zip(fresh, stored, strict=True):
            if draft.key is not None:
                known[draft.key] = message
        results = []
        for draft in batch:
            found = created.get(id(draft))
            if found is None and draft.key is not None:  # a resend: the one stored before
                found = known[draft.key]
            assert found is not None
            results.append(Posted(found, created=id(draft) in created, agents=agents))
        return results

    async def _insert(
        self, session: AsyncSession, room_id: str, fresh: list[Draft]
    ) -> list[RoomMessage]:
        """Number and add the new messages (the room row stays locked until commit)."""
        if not fresh:
            return []
        last = await session.scalar(
            update(Room)
            .where(Room.id == room_id)
            .values(last_seq=Room.last_seq + len(fresh))
            .returning(Room.last_seq)
        )
        if last is None:
            raise NotFound("room not found")
        now, first = utcnow(), last - len(fresh) + 1
        rows = [
            {
                "id": new_id(),
                "room_id": room_id,
                "seq": first + offset,
                "user_id": draft.user_id,
                "agent_id": draft.agent_id,
                "content": draft.content,
                "client_id": draft.client_id,
                "kind": draft.kind,
                "file_id": draft.file_id,
                "created_at": now,
            }
            for offset, draft in enumerate(fresh)
        ]
        await session.execute(insert(RoomMessage), rows)  # a bulk insert, no unit of work
        return [RoomMessage(**row) for row in rows]

    async def _stored(
        self, session: AsyncSession, room_id: str, batch: list[Draft]
    ) -> dict[tuple[str, str], RoomMessage | None]:
        """The messages of this batch's keys that are already stored (resends)."""
        keys = {draft.key for draft in batch if draft.key is not None}
        if not keys:
            return {}
        rows = await session.scalars(
            select(RoomMessage).where(
                RoomMessage.room_id == room_id,
                tuple_(RoomMessage.user_id, RoomMessage.client_id).in_(keys),
            )
        )
        found: dict[tuple[str, str], RoomMessage | None] = {}
        for message in rows.all():
            if message.user_id is not None and message.client_id is not None:
                found[message.user_id, message.client_id] = message
        return found

    async def close(self) -> None:
        """Let every writer store what is queued (its senders are waiting), then stop."""
        while self._writers:
            await asyncio.wait(list(self._writers.values()))
