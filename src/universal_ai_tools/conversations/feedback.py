"""Feedback on assistant messages, and its aggregation per model and agent."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from universal_ai_tools.auth.principal import Principal
from universal_ai_tools.conversations.models import Feedback
from universal_ai_tools.conversations.service import ConversationService
from universal_ai_tools.errors import BadRequest


@dataclass(frozen=True, slots=True)
class SummaryRow:
    model: str | None
    agent_id: str | None
    up: int
    down: int
    ratings: int
    average_rating: float | None


class FeedbackService:
    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], conversations: ConversationService
    ) -> None:
        self.sessions = sessions
        self.conversations = conversations

    async def give(
        self,
        actor: Principal,
        message_id: str,
        thumb: str | None,
        rating: int | None,
        comment: str | None,
    ) -> Feedback:
        message = await self.conversations.message(actor, message_id)
        if message.role != "assistant":
            raise BadRequest("feedback is given on assistant messages")
        if thumb is None and rating is None and not comment:
            raise BadRequest("give a thumb, a rating or a comment")
        feedback = Feedback(
            org_id=actor.org_id,
            user_id=actor.user_id,
            message_id=message.id,
            model=message.model,
            agent_id=message.agent_id,
            thumb=thumb,
            rating=rating,
            comment=comment,
        )
        async with self.sessions.begin() as session:
            session.add(feedback)
        return feedback

    async def summary(
        self, actor: Principal, model: str | None, agent_id: str | None
    ) -> list[SummaryRow]:
        statement = (
            select(
                Feedback.model,
                Feedback.agent_id,
                func.sum(case((Feedback.thumb == "up", 1), else_=0)),
                func.sum(case((Feedback.thumb == "down", 1), else_=0)),
                func.count(Feedback.rating),
                func.avg(Feedback.rating),
            )
            .where(Feedback.org_id == actor.org_id)
            .group_by(Feedback.model, Feedback.agent_id)
            # NULL first on every database (PostgreSQL sorts NULL last by default)
            .order_by(Feedback.model.asc().nulls_first(), Feedback.agent_id.asc().nulls_first())
        )
        if model is not None:
            statement = statement.where(Feedback.model == model)
        if agent_id is not None:
            statement = statement.where(Feedback.agent_id == agent_id)
        async with self.sessions() as session:
            rows = (await session.execute(statement)).all()
        return [
            SummaryRow(
                model=row[0],
                agent_id=row[1],
                up=int(row[2] or 0),
                down=int(row[3] or 0),
                ratings=int(row[4] or 0),
                average_rating=round(float(row[5]), 3) if row[5] is not None else None,
            )
            for row in rows
        ]
