"""Login, refresh-token rotation, logout, registration and the first-start bootstrap."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from universal_ai_tools.auth.audit import AuditLog
from universal_ai_tools.auth.cache import IdentityCache
from universal_ai_tools.auth.models import Device, Invitation, Organization, RefreshToken, User
from universal_ai_tools.auth.passwords import Passwords
from universal_ai_tools.auth.tokens import TokenSigner, hash_secret, new_refresh_token
from universal_ai_tools.db.locks import advisory_lock_async
from universal_ai_tools.db.types import new_id, utcnow
from universal_ai_tools.errors import BadRequest, Forbidden, Unauthorized
from universal_ai_tools.limits.base import LoginThrottle
from universal_ai_tools.settings import AuthSettings

INVALID_LOGIN = "invalid email or password"
INVALID_REFRESH = "invalid or expired refresh token"


@dataclass(frozen=True, slots=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int


@dataclass(frozen=True, slots=True)
class Bootstrap:
    email: str
    generated_password: str | None  # shown once on the terminal, never logged


class SessionService:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        signer: TokenSigner,
        passwords: Passwords,
        audit: AuditLog,
        cache: IdentityCache[object],
        throttle: LoginThrottle,
        settings: AuthSettings,
    ) -> None:
        self.sessions = sessions
        self.signer = signer
        self.passwords = passwords
        self.audit = audit
        self.cache = cache
        self.throttle = throttle
        self.settings = settings

    async def bootstrap(self, email: str | None, password: str | None) -> Bootstrap | None:
        """On an empty database: the first organization and its owner (an instance admin)."""
        async with self.sessions.begin() as session:
            await advisory_lock_async(session, "bootstrap")  # processes starting together
            if await session.scalar(select(func.count()).select_from(User)):
                return None
            generated = None if password else secrets.token_urlsafe(12)
            organization = Organization(name="Default")
            session.add(organization)
            await session.flush()
            owner = User(
                org_id=organization.id,
                email=(email or "admin@localhost").lower(),
                password_hash=await self.passwords.hash(password or generated or ""),
                role="owner",
                instance_admin=True,
            )
            session.add(owner)
        await self.audit.record("bootstrap", org_id=organization.id, target_id=owner.id)
        return Bootstrap(email=owner.email, generated_password=generated)

    async def login(self, email: str, password: str, address: str) -> TokenPair:
        email = email.strip().lower()
        await self.throttle.check(email, address)
        async with self.sessions() as session:
            user = await session.scalar(select(User).where(User.email == email))
        valid = await self.passwords.verify(user.password_hash if user else None, password)
        if user is None or not valid or user.suspended:
            await self.throttle.failed(email, address)
            reason = "suspended" if user is not None and valid else "bad_credentials"
            await self.audit.record(
                "login.failure",
                org_id=user.org_id if user else None,
                target_id=user.id if user else None,
                address=address,
                detail={"reason": reason},
            )
            raise Unauthorized(
                "this account is suspended" if reason == "suspended" else INVALID_LOGIN
            )
        await self.throttle.succeeded(email)
        pair = await self._start_session(user, device_id=None)
        await self.audit.record(
            "login.success", org_id=user.org_id, actor_id=user.id, address=address
        )
        return pair

    async def start_device_session(self, user: User, device_id: str) -> TokenPair:
        return await self._start_session(user, device_id=device_id)

    async def _start_session(self, user: User, device_id: str | None) -> TokenPair:
        family_id = new_id()
        refresh = await self._new_refresh(family_id, user.id, device_id)
        return self._pair(user, family_id, device_id, refresh)

    def _pair(self, user: User, family_id: str, device_id: str | None, refresh: str) -> TokenPair:
        access = self.signer.issue(
            user_id=user.id,
            org_id=user.org_id,
            role=user.role,
            session_id=family_id,
            device_id=device_id,
        )
        return TokenPair(access, refresh, self.signer.ttl_seconds)

    async def _new_refresh(self, family_id: str, user_id: str, device_id: str | None) -> str:
        token = new_refresh_token()
        async with self.sessions.begin() as session:
            session.add(
                RefreshToken(
                    family_id=family_id,
                    user_id=user_id,
                    device_id=device_id,
                    token_hash=hash_secret(token),
                    expires_at=utcnow() + timedelta(days=self.settings.refresh_ttl_days),
                )
            )
        return token

    async def refresh(self, token: str, address: str) -> TokenPair:
        """Rotate: the presented token is spent; presenting a spent one ends the session."""
        now = utcnow()
        async with self.sessions.begin() as session:
            row = await session.scalar(
                select(RefreshToken).where(RefreshToken.token_hash == hash_secret(token))
            )
            if row is None:
                raise Unauthorized(INVALID_REFRESH)
            claimed = await session.execute(
                update(RefreshToken)
                .where(
                    RefreshToken.id == row.id,
                    RefreshToken.used_at.is_(None),
                    RefreshToken.revoked_at.is_(None),
                )
                .values(used_at=now)
            )
            reused = claimed.rowcount != 1  # type: ignore[attr-defined]
            # Only a token that was spent is reused; one revoked unspent (logout, a revoked
            # device, its session ended) is just invalid. Read again: a concurrent refresh
            # may have spent it since `row` was loaded.
            spent = reused and (
                await session.scalar(select(RefreshToken.used_at).where(RefreshToken.id == row.id))
                is not None
            )
            # A session ended by a concurrent reuse may still hold a token issued just after.
            ended = not reused and await self._family_revoked(session, row.family_id)
            user = await session.get(User, row.user_id)
        if reused and not spent:
            raise Unauthorized(INVALID_REFRESH)
        if reused:
            await self.revoke_family(row.family_id)
            await self.audit.record(
                "refresh.reuse",
                org_id=user.org_id if user else None,
                target_id=row.user_id,
                address=address,
                detail={"session": row.family_id},
            )
            raise Unauthorized(INVALID_REFRESH)
        if ended or row.expires_at <= now or user is None or user.suspended:
            raise Unauthorized(INVALID_REFRESH)
        if row.device_id is not None and not await self._device_active(row.device_id):
            raise Unauthorized(INVALID_REFRESH)
        refresh = await self._new_refresh(row.family_id, user.id, row.device_id)
        return self._pair(user, row.family_id, row.device_id, refresh)

    @staticmethod
    async def _family_revoked(session: AsyncSession, family_id: str) -> bool:
        revoked = await session.scalar(
            select(RefreshToken.id)
            .where(RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_not(None))
            .limit(1)
        )
        return revoked is not None

    async def _device_active(self, device_id: str) -> bool:
        async with self.sessions() as session:
            device = await session.get(Device, device_id)
        return device is not None and device.revoked_at is None

    async def revoke_family(self, family_id: str) -> None:
        async with self.sessions.begin() as session:
            revoked = await session.execute(
                update(RefreshToken)
                .where(RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_(None))
                .values(revoked_at=utcnow())
            )
        if revoked.rowcount:  # type: ignore[attr-defined]
            self.cache.invalidate()  # a session already ended changes nobody's rights

    async def logout(self, refresh_token: str | None, session_id: str | None) -> None:
        family_id = session_id
        if refresh_token:
            async with self.sessions() as session:
                row = await session.scalar(
                    select(RefreshToken).where(
                        RefreshToken.token_hash == hash_secret(refresh_token)
                    )
                )
            family_id = row.family_id if row is not None else family_id
        if family_id is not None:
            await self.revoke_family(family_id)

    async def register(
        self, email: str, password: str, invitation: str | None, address: str
    ) -> User:
        email = email.strip().lower()
        async with self.sessions.begin() as session:
            org_id, role = await self._registration_target(session, email, invitation)
            if await session.scalar(select(User.id).where(User.email == email)):
                raise BadRequest("an account with this email already exists", code="email_taken")
            user = User(
                org_id=org_id,
                email=email,
                password_hash=await self.passwords.hash(password),
                role=role,
            )
            session.add(user)
        await self.audit.record(
            "user.register", org_id=org_id, actor_id=user.id, target_id=user.id, address=address
        )
        return user

    async def _registration_target(
        self, session: AsyncSession, email: str, invitation: str | None
    ) -> tuple[str, str]:
        if invitation:
            invite = await session.scalar(
                select(Invitation).where(Invitation.token_hash == hash_secret(invitation))
            )
            valid = invite is not None and invite.used_at is None and invite.expires_at > utcnow()
            if invite is None or not valid:
                raise Forbidden("the invitation is invalid, used or expired")
            if invite.email and invite.email != email:
                raise Forbidden("the invitation was issued for another email address")
            invite.used_at = utcnow()
            return invite.org_id, invite.role
        if not self.settings.open_registration:
            raise Forbidden("registration is by invitation only on this server")
        first = await session.scalar(select(Organization).order_by(Organization.created_at))
        if first is None:
            raise Forbidden("the server is not set up yet")
        return first.id, "member"
