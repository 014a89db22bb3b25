"""Turns a presented credential (access JWT or API key) into a `Principal`.

Every check reads the current state of the user, key, device and session, through the
identity cache (no query when warm), so revocations and role changes apply at once.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from universal_ai_tools.auth.cache import IdentityCache
from universal_ai_tools.auth.models import ApiKey, Device, RefreshToken, User
from universal_ai_tools.auth.principal import Principal, Role
from universal_ai_tools.auth.tokens import API_KEY_PREFIX, TokenSigner, hash_secret
from universal_ai_tools.db.types import utcnow
from universal_ai_tools.errors import Unauthorized

TOUCH_INTERVAL_SECONDS = 60.0


@dataclass(frozen=True, slots=True)
class UserState:
    id: str
    org_id: str
    email: str
    role: Role
    suspended: bool
    instance_admin: bool
    rpm: int | None
    daily_tokens: int | None


@dataclass(frozen=True, slots=True)
class KeyState:
    id: str
    user_id: str
    models: tuple[str, ...] | None
    rpm: int | None
    daily_tokens: int | None
    revoked: bool


def _user_state(user: User) -> UserState:
    return UserState(
        id=user.id,
        org_id=user.org_id,
        email=user.email,
        role=user.role,  # type: ignore[arg-type]
        suspended=user.suspended,
        instance_admin=user.instance_admin,
        rpm=user.rpm,
        daily_tokens=user.daily_tokens,
    )


class Authenticator:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        signer: TokenSigner,
        cache: IdentityCache[object],
    ) -> None:
        self.sessions = sessions
        self.signer = signer
        self.cache = cache
        self._touched: dict[str, float] = {}

    async def authenticate(self, credential: str) -> Principal:
        if credential.startswith(API_KEY_PREFIX):
            return await self._api_key(credential)
        claims = self.signer.verify(credential)
        user = await self._user(claims.user_id)
        if claims.session_id is not None and not await self._session_alive(claims.session_id):
            raise Unauthorized("the session has ended; log in again", code="session_revoked")
        via: str = "token"
        if claims.device_id is not None:
            if not await self._device_alive(claims.device_id):
                raise Unauthorized("the device has been revoked", code="device_revoked")
            via = "device"
            await self._touch_device(claims.device_id)
        return Principal(
            user_id=user.id,
            org_id=user.org_id,
            email=user.email,
            role=user.role,
            instance_admin=user.instance_admin,
            via=via,  # type: ignore[arg-type]
            session_id=claims.session_id,
            device_id=claims.device_id,
            user_rpm=user.rpm,
            user_daily_tokens=user.daily_tokens,
        )

    async def _user(self, user_id: str) -> UserState:
        cached = self.cache.get(f"user:{user_id}")
        if not isinstance(cached, UserState):
            stamp = self.cache.stamp()
            async with self.sessions() as session:
                row = await session.get(User, user_id)
            if row is None:
                raise Unauthorized("the account no longer exists", code="user_deleted")
            cached = _user_state(row)
            self.cache.put(f"user:{user_id}", cached, stamp)
        if cached.suspended:
            raise Unauthorized("this account is suspended", code="user_suspended")
        return cached

    async def _session_alive(self, family_id: str) -> bool:
        key = f"session:{family_id}"
        cached = self.cache.get(key)
        if isinstance(cached, bool):
            return cached
        stamp = self.cache.stamp()
        async with self.sessions() as session:
            revoked = await session.scalar(
                select(RefreshToken.id)
                .where(RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_not(None))
                .limit(1)
            )
        alive = revoked is None
        self.cache.put(key, alive, stamp)
        return alive

    async def _device_alive(self, device_id: str) -> bool:
        key = f"device:{device_id}"
        cached = self.cache.get(key)
        if isinstance(cached, bool):
            return cached
        stamp = self.cache.stamp()
        async with self.sessions() as session:
            device = await session.get(Device, device_id)
        alive = device is not None and device.revoked_at is None
        self.cache.put(key, alive, stamp)
        return alive

    async def _api_key(self, credential: str) -> Principal:
        digest = hash_secret(credential)
        cached = self.cache.get(f"key:{digest}")
        if not isinstance(cached, KeyState):
            stamp = self.cache.stamp()
            async with self.sessions() as session:
                row = await session.scalar(select(ApiKey).where(ApiKey.key_hash == digest))
            if row is None:
                raise Unauthorized("invalid API key", code="invalid_api_key")
            cached = KeyState(
                id=row.id,
                user_id=row.user_id,
                models=tuple(row.models) if row.models is not None else None,
                rpm=row.rpm,
                daily_tokens=row.daily_tokens,
                revoked=row.revoked_at is not None,
            )
            self.cache.put(f"key:{digest}", cached, stamp)
        if cached.revoked:
            raise Unauthorized("this API key has been revoked", code="api_key_revoked")
        user = await self._user(cached.user_id)
        await self._touch_key(cached.id)
        return Principal(
            user_id=user.id,
            org_id=user.org_id,
            email=user.email,
            role=user.role,
            instance_admin=user.instance_admin,
            via="api_key",
            api_key_id=cached.id,
            allowed_models=cached.models,
            rpm=cached.rpm,
            daily_tokens=cached.daily_tokens,
            user_rpm=user.rpm,
            user_daily_tokens=user.daily_tokens,
        )

    def _due(self, key: str) -> bool:
        now = time.monotonic()
        if now - self._touched.get(key, 0.0) < TOUCH_INTERVAL_SECONDS:
            return False
        if len(self._touched) > 100_000:
            self._touched.clear()
        self._touched[key] = now
        return True

    async def _touch_key(self, key_id: str) -> None:
        """Record `last_used_at`, at most once a minute per key."""
        if self._due(f"key:{key_id}"):
            await self._set_time(update(ApiKey).where(ApiKey.id == key_id), "last_used_at")

    async def _touch_device(self, device_id: str) -> None:
        if self._due(f"device:{device_id}"):
            await self._set_time(update(Device).where(Device.id == device_id), "last_seen_at")

    async def _set_time(self, statement: object, column: str) -> None:
        now: datetime = utcnow()
        async with self.sessions.begin() as session:
            await session.execute(statement.values({column: now}))  # type: ignore[attr-defined]
