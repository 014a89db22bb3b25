"""The audit log of security events. Callers never pass secrets in `detail`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

import orjson
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from universal_ai_tools.auth.models import AuditEvent


@dataclass(frozen=True, slots=True)
class AuditFilter:
    action: str | None = None
    actor_id: str | None = None
    target_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    before: datetime | None = None  # paging: entries strictly older than this time
    limit: int = 100


class AuditLog:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.sessions = sessions

    async def record(
        self,
        action: str,
        *,
        org_id: str | None,
        actor_id: str | None = None,
        target_type: str | None = None,
        target_id: str | None = None,
        address: str | None = None,
        detail: Mapping[str, str | int | bool | None] | None = None,
    ) -> None:
        async with self.sessions.begin() as session:
            session.add(
                AuditEvent(
                    org_id=org_id,
                    actor_id=actor_id,
                    action=action,
                    target_type=target_type,
                    target_id=target_id,
                    address=address,
                    detail=orjson.dumps(detail).decode() if detail else None,
                )
            )

    async def list(self, org_id: str, query: AuditFilter) -> list[AuditEvent]:
        statement = select(AuditEvent).where(AuditEvent.org_id == org_id)
        if query.action:
            statement = statement.where(AuditEvent.action == query.action)
        if query.actor_id:
            statement = statement.where(AuditEvent.actor_id == query.actor_id)
        if query.target_id:
            statement = statement.where(AuditEvent.target_id == query.target_id)
        if query.since:
            statement = statement.where(AuditEvent.created_at >= query.since)
        if query.until:
            statement = statement.where(AuditEvent.created_at < query.until)
        if query.before:
            statement = statement.where(AuditEvent.created_at < query.before)
        statement = statement.order_by(AuditEvent.created_at.desc()).limit(query.limit)
        async with self.sessions() as session:
            return list((await session.scalars(statement)).all())
