"""Rooms, their members and agents, and their messages with a per-room gap-free `seq`.

Only members see a room; to everybody else it does not exist (404). Messages are stored
and numbered by the room's journal (`journal.py`): the room's counter is incremented in
the same transaction, so sequence numbers have no gaps and are never reused.
"""

from __future__ import annotations

import asyncio

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from universal_ai_tools.auth.principal import Principal
from universal_ai_tools.errors import BadRequest, Forbidden, NotFound
from universal_ai_tools.realtime.bus import Event, EventBus, room_channel, user_channel
from universal_ai_tools.realtime.journal import Draft, MessageJournal, Posted
from universal_ai_tools.realtime.journal import message_event as message_event
from universal_ai_tools.realtime.models import Room, RoomAgent, RoomMember, RoomMessage

RETENTION = 10_000  # messages a reconnecting client can catch up on; older: `reset`


def storable(content: str) -> str:
    """Refused before it joins a batch: one message PostgreSQL rejects would fail the
    whole transaction, and with it the other senders' messages."""
    if "\x00" in content:
        raise BadRequest("a message cannot contain NUL characters")
    return content


class RoomService:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], bus: EventBus) -> None:
        self.sessions = sessions
        self.bus = bus
        self.journal = MessageJournal(sessions, bus)

    async def create(
        self,
        actor: Principal,
        name: str,
        members: list[str],
        agents: list[str],
        kind: str = "group",
    ) -> Room:
        if not actor.at_least("member"):
            raise Forbidden("this action needs the member role")
        room = Room(org_id=actor.org_id, name=name, kind=kind, created_by=actor.user_id)
        async with self.sessions.begin() as session:
            session.add(room)
            await session.flush()
            session.add(RoomMember(room_id=room.id, user_id=actor.user_id, role="owner"))
            for user_id in dict.fromkeys(members):
                if user_id != actor.user_id:
                    session.add(RoomMember(room_id=room.id, user_id=user_id, role="member"))
            for agent_id in dict.fromkeys(agents):
                session.add(RoomAgent(room_id=room.id, agent_id=agent_id))
        return room

    async def direct(self, actor: Principal, other_user_id: str) -> Room:
        """The one direct room between two users of an organization (created on first use)."""
        if other_user_id == actor.user_id:
            raise BadRequest("a direct room needs another user")
        key = ":".join(sorted((actor.user_id, other_user_id)))
        async with self.sessions() as session:
            existing = await session.scalar(select(Room).where(Room.direct_key == key))
        if existing is not None:
            return existing
        room = await self.create(actor, "direct", [other_user_id], [], kind="direct")
        async with self.sessions.begin() as session:
            await session.execute(update(Room).where(Room.id == room.id).values(direct_key=key))
        room.direct_key = key
        return room

    async def membership(self, actor: Principal, room_id: str) -> tuple[Room, RoomMember]:
        async with self.sessions() as session:
            room = await session.get(Room, room_id)
            member = await session.get(RoomMember, (room_id, actor.user_id))
        if room is None or room.org_id != actor.org_id or member is None:
            raise NotFound("room not found")
        return room, member

    async def mine(self, actor: Principal, archived: bool = False) -> list[Room]:
        statement = (
            select(Room)
            .join(RoomMember, RoomMember.room_id == Room.id)
            .where(
                RoomMember.user_id == actor.user_id,
                Room.org_id == actor.org_id,
                Room.archived.is_(archived),
            )
            .order_by(Room.created_at)
        )
        async with self.sessions() as session:
            return list((await session.scalars(statement)).all())

    async def _manage(self, actor: Principal, room_id: str) -> Room:
        room, member = await self.membership(actor, room_id)
        if member.role != "owner" and not actor.at_least("admin"):
            raise Forbidden("only the room's owner or an admin manages the room")
        return room

    async def update(
        self, actor: Principal, room_id: str, name: str | None, archived: bool | None
    ) -> Room:
        room = await self._manage(actor, room_id)
        values: dict[str, object] = {}
        if name is not None:
            values["name"] = room.name = name
        if archived is not None:
            values["archived"] = room.archived = archived
        if values:
            async with self.sessions.begin() as session:
                await session.execute(update(Room).where(Room.id == room_id).values(**values))
        return room

    async def members(self, actor: Principal, room_id: str) -> list[RoomMember]:
        await self.membership(actor, room_id)
        async with self.sessions() as session:
            rows = await session.scalars(select(RoomMember).where(RoomMember.room_id == room_id))
            return list(rows.all())

    async def member_ids(self, room_id: str) -> set[str]:
        async with self.sessions() as session:
            rows = await session.scalars(
                select(RoomMember.user_id).where(RoomMember.room_id == room_id)
            )
            return set(rows.all())

    async def add_member(
        self, actor: Principal, room_id: str, user_id: str, role: str
    ) -> RoomMember:
        await self._manage(actor, room_id)
        async with self.sessions.begin() as session:
            member = await session.get(RoomMember, (room_id, user_id))
            if member is None:
                member = RoomMember(room_id=room_id, user_id=user_id, role=role)
                session.add(member)
            else:
                member.role = role
        await self.bus.publish(user_channel(user_id), {"type": "room.invited", "room": room_id})
        event = {"type": "member.updated", "room": room_id, "user_id": user_id, "role": role}
        await self.bus.publish(room_channel(room_id), event)
        return member

    async def remove_member(self, actor: Principal, room_id: str, user_id: str) -> None:
        """The removed member stops receiving the room's events at once, on every instance."""
        if user_id != actor.user_id:
            await self._manage(actor, room_id)
        else:
            await self.membership(actor, room_id)
        async with self.sessions.begin() as session:
            await session.execute(
                delete(RoomMember).where(
                    RoomMember.room_id == room_id, RoomMember.user_id == user_id
                )
            )
        await self.bus.publish(
            room_channel(room_id), {"type": "member.removed", "room": room_id, "user_id": user_id}
        )

    async def agents(self, room_id: str) -> list[RoomAgent]:
        async with self.sessions() as session:
            rows = await session.scalars(select(RoomAgent).where(RoomAgent.room_id == room_id))
            return list(rows.all())

    async def add_agent(
        self, actor: Principal, room_id: str, agent_id: str, auto_reply: bool
    ) -> None:
        await self._manage(actor, room_id)
        async with self.sessions.begin() as session:
            existing = await session.get(RoomAgent, (room_id, agent_id))
            if existing is None:
                session.add(RoomAgent(room_id=room_id, agent_id=agent_id, auto_reply=auto_reply))
            else:
                existing.auto_reply = auto_reply

    async def remove_agent(self, actor: Principal, room_id: str, agent_id: str) -> None:
        await self._manage(actor, room_id)
        async with self.sessions.begin() as session:
            await session.execute(
                delete(RoomAgent).where(
                    RoomAgent.room_id == room_id, RoomAgent.agent_id == agent_id
                )
            )

    async def post(
        self,
        room_id: str,
        content: str,
        *,
        user_id: str | None = None,
        agent_id: str | None = None,
        client_id: str | None = None,
        kind: str = "message",
        file_id: str | None = None,
    ) -> Posted:
        """Store and number a message, then publish it; a resend with the same client_id
        returns the stored message (the caller acknowledges it to the sender)."""
        draft = Draft(storable(content), user_id, agent_id, client_id, kind, file_id)
        return await self.journal.post(room_id, draft)

    def submit(
        self, room_id: str, content: str, *, user_id: str, client_id: str | None
    ) -> asyncio.Future[Posted]:
        """`post` without waiting: the message is queued now, in order, and the future
        resolves once it is stored and published (a WebSocket reads on meanwhile)."""
        return self.journal.submit(room_id, Draft(storable(content), user_id, None, client_id))

    async def history(
        self, actor: Principal, room_id: str, *, before: int | None, after: int | None, limit: int
    ) -> list[RoomMessage]:
        await self.membership(actor, room_id)
        statement = select(RoomMessage).where(RoomMessage.room_id == room_id)
        if after is not None:
            statement = statement.where(RoomMessage.seq > after).order_by(RoomMessage.seq)
        else:
            if before is not None:
                statement = statement.where(RoomMessage.seq < before)
            statement = statement.order_by(RoomMessage.seq.desc())
        async with self.sessions() as session:
            rows = list((await session.scalars(statement.limit(limit))).all())
        return sorted(rows, key=lambda m: m.seq)

    async def history_for_agent(self, room_id: str, limit: int) -> list[RoomMessage]:
        """The latest messages of a room, oldest first (an agent's context)."""
        statement = (
            select(RoomMessage)
            .where(RoomMessage.room_id == room_id, RoomMessage.kind == "message")
            .order_by(RoomMessage.seq.desc())
            .limit(limit)
        )
        async with self.sessions() as session:
            rows = list((await session.scalars(statement)).all())
        return sorted(rows, key=lambda m: m.seq)

    async def since(self, room_id: str, seq: int) -> tuple[int, list[RoomMessage] | None]:
        """Every message after `seq` in order, or None when `seq` is older than retention."""
        async with self.sessions() as session:
            room = await session.get(Room, room_id)
            if room is None:
                raise NotFound("room not found")
            if seq < room.last_seq - RETENTION or seq > room.last_seq:
                return room.last_seq, None
            rows = await session.scalars(
                select(RoomMessage)
                .where(RoomMessage.room_id == room_id, RoomMessage.seq > seq)
                .order_by(RoomMessage.seq)
            )
            return room.last_seq, list(rows.all())

    async def events_since(self, room_id: str, seq: int) -> tuple[int, list[Event] | None]:
        """`since`, as the events a connection receives."""
        last_seq, messages = await self.since(room_id, seq)
        if messages is None:
            return last_seq, None
        return last_seq, [message_event(message) for message in messages]

    async def mark_read(self, actor: Principal, room_id: str, seq: int) -> None:
        async with self.sessions.begin() as session:
            await session.execute(
                update(RoomMember)
                .where(
                    RoomMember.room_id == room_id,
                    RoomMember.user_id == actor.user_id,
                    RoomMember.last_read_seq < seq,
                )
                .values(last_read_seq=seq)
            )
