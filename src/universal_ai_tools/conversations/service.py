"""Conversations and their messages. A conversation belongs to one user; everybody else,
in the organization or not, is told it does not exist."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import delete, exists, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from universal_ai_tools.auth.principal import Principal
from universal_ai_tools.conversations.models import Conversation, Message
from universal_ai_tools.db.types import new_id, utcnow
from universal_ai_tools.errors import NotFound

TITLE_CHARS = 60


def title_from(text: str) -> str:
    """A title from the first user turn: its first line, cut at a word boundary."""
    line = " ".join(text.strip().split())
    if len(line) <= TITLE_CHARS:
        return line or "New conversation"
    cut = line[:TITLE_CHARS].rsplit(" ", 1)[0]
    return cut.rstrip(",.;:") + "…"


@dataclass(frozen=True, slots=True)
class ConversationQuery:
    search: str | None = None
    archived: bool | None = False
    before: datetime | None = None
    limit: int = 50


class ConversationService:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.sessions = sessions

    async def create(
        self,
        actor: Principal,
        *,
        title: str = "",
        model: str | None = None,
        agent_id: str | None = None,
        memory: bool = True,
    ) -> Conversation:
        conversation = Conversation(
            org_id=actor.org_id,
            user_id=actor.user_id,
            title=title,
            model=model,
            agent_id=agent_id,
            memory=memory,
        )
        async with self.sessions.begin() as session:
            session.add(conversation)
        return conversation

    async def get(self, actor: Principal, conversation_id: str) -> Conversation:
        async with self.sessions() as session:
            conversation = await session.get(Conversation, conversation_id)
        if conversation is None or not _owned(actor, conversation):
            raise NotFound("conversation not found")
        return conversation

    async def find(self, actor: Principal, query: ConversationQuery) -> list[Conversation]:
        statement = select(Conversation).where(
            Conversation.org_id == actor.org_id, Conversation.user_id == actor.user_id
        )
        if query.archived is not None:
            statement = statement.where(Conversation.archived.is_(query.archived))
        if query.before is not None:
            before = query.before  # a time without a zone is UTC
            before = before.replace(tzinfo=UTC) if before.tzinfo is None else before
            statement = statement.where(Conversation.updated_at < before)
        if query.search:
            # The words as typed: `%` and `_` in them are no wildcards.
            escaped = re.sub(r"([\\%_])", r"\\\1", query.search)
            pattern = f"%{escaped}%"
            in_messages = exists().where(
                Message.conversation_id == Conversation.id,
                Message.content.ilike(pattern, escape="\\"),
            )
            title = Conversation.title.ilike(pattern, escape="\\")
            statement = statement.where(or_(title, in_messages))
        statement = statement.order_by(Conversation.updated_at.desc()).limit(query.limit)
        async with self.sessions() as session:
            return list((await session.scalars(statement)).all())

    async def update(
        self, actor: Principal, conversation_id: str, *, title: str | None, archived: bool | None
    ) -> Conversation:
        async with self.sessions.begin() as session:
            conversation = await session.get(Conversation, conversation_id)
            if conversation is None or not _owned(actor, conversation):
                raise NotFound("conversation not found")
            if title is not None:
                conversation.title = title
            if archived is not None:
                conversation.archived = archived
            conversation.updated_at = utcnow()
        return conversation

    async def delete(self, actor: Principal, conversation_id: str) -> None:
        await self.get(actor, conversation_id)
        async with self.sessions.begin() as session:
            await session.execute(delete(Message).where(Message.conversation_id == conversation_id))
            await session.execute(delete(Conversation).where(Conversation.id == conversation_id))

    async def messages(self, actor: Principal, conversation_id: str) -> list[Message]:
        await self.get(actor, conversation_id)
        statement = (
            select(Message)
            .where(Message.conversation_id == conversation_id)
            .order_by(Message.created_at, Message.id)
        )
        async with self.sessions() as session:
            return list((await session.scalars(statement)).all())

    async def message(self, actor: Principal, message_id: str) -> Message:
        async with self.sessions() as session:
            message = await session.get(Message, message_id)
        if message is None or message.org_id != actor.org_id or message.user_id != actor.user_id:
            raise NotFound("message not found")
        return message

    async def add(self, message: Message, *, title_from_text: str | None = None) -> Message:
        """Store one message and touch its conversation (titling it when still untitled)."""
        message.id = message.id or new_id()
        async with self.sessions.begin() as session:
            session.add(message)
            values: dict[str, object] = {"updated_at": utcnow()}
            await session.execute(
                update(Conversation)
                .where(Conversation.id == message.conversation_id)
                .values(**values)
            )
            if title_from_text is not None:
                await session.execute(
                    update(Conversation)
                    .where(Conversation.id == message.conversation_id, Conversation.title == "")
                    .values(title=title_from(title_from_text))
                )
        return message


def _owned(actor: Principal, conversation: Conversation) -> bool:
    return conversation.org_id == actor.org_id and conversation.user_id == actor.user_id
