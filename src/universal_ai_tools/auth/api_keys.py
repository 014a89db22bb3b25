"""API keys: shown once at creation, stored as a hash, limited to models, rates and budgets."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from universal_ai_tools.auth.audit import AuditLog
from universal_ai_tools.auth.cache import IdentityCache
from universal_ai_tools.auth.models import ApiKey
from universal_ai_tools.auth.principal import Principal
from universal_ai_tools.auth.tokens import hash_secret, new_api_key
from universal_ai_tools.auth.users import require
from universal_ai_tools.db.types import utcnow
from universal_ai_tools.errors import Forbidden, NotFound


def require_login(actor: Principal) -> None:
    """Credentials are made by a logged-in user, never by an API key: a key minting keys or
    devices would shed its own model and rate limits and outlive its revocation."""
    if actor.via == "api_key":
        raise Forbidden("an API key cannot create credentials; log in to do this")


class ApiKeyService:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        audit: AuditLog,
        cache: IdentityCache[object],
    ) -> None:
        self.sessions = sessions
        self.audit = audit
        self.cache = cache

    async def create(
        self,
        actor: Principal,
        name: str,
        models: list[str] | None,
        rpm: int | None,
        daily_tokens: int | None,
    ) -> tuple[ApiKey, str]:
        require(actor, "member")
        require_login(actor)
        secret = new_api_key()
        key = ApiKey(
            org_id=actor.org_id,
            user_id=actor.user_id,
            name=name,
            prefix=secret[:12],
            key_hash=hash_secret(secret),
            models=models,
            rpm=rpm,
            daily_tokens=daily_tokens,
        )
        async with self.sessions.begin() as session:
            session.add(key)
        await self.audit.record(
            "api_key.create",
            org_id=actor.org_id,
            actor_id=actor.user_id,
            target_type="api_key",
            target_id=key.id,
            detail={"name": name},
        )
        return key, secret

    async def list(self, actor: Principal) -> list[ApiKey]:
        """Your own keys; admins see every key of their organization."""
        statement = select(ApiKey).where(ApiKey.org_id == actor.org_id)
        if not actor.at_least("admin"):
            statement = statement.where(ApiKey.user_id == actor.user_id)
        async with self.sessions() as session:
            return list((await session.scalars(statement.order_by(ApiKey.created_at))).all())

    async def get(self, actor: Principal, key_id: str) -> ApiKey:
        async with self.sessions() as session:
            key = await session.get(ApiKey, key_id)
        if key is None or not self._visible(actor, key):
            raise NotFound("API key not found")
        return key

    def _visible(self, actor: Principal, key: ApiKey) -> bool:
        if key.org_id != actor.org_id:
            return False
        return key.user_id == actor.user_id or actor.at_least("admin")

    async def revoke(self, actor: Principal, key_id: str) -> None:
        async with self.sessions.begin() as session:
            key = await session.get(ApiKey, key_id)
            if key is None or not self._visible(actor, key):
                raise NotFound("API key not found")
            if key.revoked_at is None:
                key.revoked_at = utcnow()
        self.cache.invalidate()
        await self.audit.record(
            "api_key.revoke",
            org_id=actor.org_id,
            actor_id=actor.user_id,
            target_type="api_key",
            target_id=key_id,
        )
