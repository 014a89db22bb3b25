"""Organizations, users and invitations, as the admins of each organization manage them.

Objects of another organization are reported as missing (404), never as forbidden.
"""

from __future__ import annotations

import secrets
from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from universal_ai_tools.auth.audit import AuditLog
from universal_ai_tools.auth.cache import IdentityCache
from universal_ai_tools.auth.models import Invitation, Organization, User
from universal_ai_tools.auth.passwords import Passwords
from universal_ai_tools.auth.principal import ROLE_RANK, Principal, Role
from universal_ai_tools.auth.tokens import hash_secret
from universal_ai_tools.db.types import utcnow
from universal_ai_tools.errors import BadRequest, Conflict, Forbidden, NotFound, Unauthorized

INVITATION_DAYS = 7


def require(actor: Principal, role: Role) -> None:
    if not actor.at_least(role):
        raise Forbidden(f"this action needs the {role} role")


class UserDirectory:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        passwords: Passwords,
        audit: AuditLog,
        cache: IdentityCache[object],
    ) -> None:
        self.sessions = sessions
        self.passwords = passwords
        self.audit = audit
        self.cache = cache

    async def create_org(
        self, actor: Principal, name: str, owner_email: str, owner_password: str
    ) -> tuple[Organization, User]:
        if not actor.instance_admin:
            raise Forbidden("only instance administrators create organizations")
        async with self.sessions.begin() as session:
            await self._email_free(session, owner_email)
            organization = Organization(name=name)
            session.add(organization)
            await session.flush()
            owner = User(
                org_id=organization.id,
                email=owner_email.lower(),
                password_hash=await self.passwords.hash(owner_password),
                role="owner",
            )
            session.add(owner)
        await self.audit.record(
            "org.create", org_id=organization.id, actor_id=actor.user_id, target_id=owner.id
        )
        return organization, owner

    async def list_orgs(self, actor: Principal) -> list[Organization]:
        statement = select(Organization).order_by(Organization.created_at)
        if not actor.instance_admin:
            statement = statement.where(Organization.id == actor.org_id)
        async with self.sessions() as session:
            return list((await session.scalars(statement)).all())

    async def get_org(self, actor: Principal, org_id: str) -> Organization:
        async with self.sessions() as session:
            organization = await session.get(Organization, org_id)
        if organization is None or (organization.id != actor.org_id and not actor.instance_admin):
            raise NotFound("organization not found")
        return organization

    async def _email_free(self, session: AsyncSession, email: str) -> None:
        if await session.scalar(select(User.id).where(User.email == email.lower())):
            raise Conflict("an account with this email already exists", code="email_taken")

    async def create_user(self, actor: Principal, email: str, password: str, role: Role) -> User:
        require(actor, "admin")
        self._may_grant(actor, role)
        async with self.sessions.begin() as session:
            await self._email_free(session, email)
            user = User(
                org_id=actor.org_id,
                email=email.lower(),
                password_hash=await self.passwords.hash(password),
                role=role,
            )
            session.add(user)
        await self.audit.record(
            "user.create",
            org_id=actor.org_id,
            actor_id=actor.user_id,
            target_type="user",
            target_id=user.id,
            detail={"role": role},
        )
        return user

    def _may_grant(self, actor: Principal, role: Role) -> None:
        if ROLE_RANK[role] > ROLE_RANK[actor.role]:
            raise Forbidden(f"an {actor.role} cannot grant the {role} role")

    async def list_users(self, actor: Principal) -> list[User]:
        require(actor, "admin")
        statement = select(User).where(User.org_id == actor.org_id).order_by(User.created_at)
        async with self.sessions() as session:
            return list((await session.scalars(statement)).all())

    async def get_user(self, actor: Principal, user_id: str) -> User:
        if user_id != actor.user_id:
            require(actor, "admin")
        async with self.sessions() as session:
            user = await session.get(User, user_id)
        if user is None or user.org_id != actor.org_id:
            raise NotFound("user not found")
        return user

    async def update_user(
        self, actor: Principal, user_id: str, role: Role | None, suspended: bool | None
    ) -> User:
        require(actor, "admin")
        async with self.sessions.begin() as session:
            user = await session.get(User, user_id)
            if user is None or user.org_id != actor.org_id:
                raise NotFound("user not found")
            self._may_manage(actor, user)
            changes: dict[str, str | bool | None] = {}
            if role is not None and role != user.role:
                self._may_grant(actor, role)
                if user.role == "owner":
                    await self._keep_an_owner(session, user)
                changes["role"] = f"{user.role}->{role}"
                user.role = role
            if suspended is not None and suspended != user.suspended:
                if suspended and user.id == actor.user_id:
                    raise BadRequest("you cannot suspend yourself")
                if suspended and user.role == "owner":
                    await self._keep_an_owner(session, user)
                changes["suspended"] = suspended
                user.suspended = suspended
        if changes:
            self.cache.invalidate()
            await self.audit.record(
                "user.update",
                org_id=actor.org_id,
                actor_id=actor.user_id,
                target_type="user",
                target_id=user.id,
                detail=changes,
            )
        return user

    async def delete_user(self, actor: Principal, user_id: str) -> None:
        require(actor, "admin")
        async with self.sessions.begin() as session:
            user = await session.get(User, user_id)
            if user is None or user.org_id != actor.org_id:
                raise NotFound("user not found")
            self._may_manage(actor, user)
            if user.id == actor.user_id:
                raise BadRequest("you cannot delete yourself")
            if user.role == "owner":
                await self._keep_an_owner(session, user)
            await session.delete(user)
        self.cache.invalidate()
        await self.audit.record(
            "user.delete",
            org_id=actor.org_id,
            actor_id=actor.user_id,
            target_type="user",
            target_id=user_id,
        )

    def _may_manage(self, actor: Principal, user: User) -> None:
        if ROLE_RANK[user.role] > ROLE_RANK[actor.role]:
            raise Forbidden(f"an {actor.role} cannot change an {user.role}")

    async def _keep_an_owner(self, session: AsyncSession, leaving: User) -> None:
        owners = await session.scalar(
            select(func.count())
            .select_from(User)
            .where(User.org_id == leaving.org_id, User.role == "owner", User.suspended.is_(False))
        )
        if (owners or 0) <= 1:
            raise BadRequest("an organization must keep at least one active owner")

    async def change_password(self, actor: Principal, current: str, new: str) -> None:
        async with self.sessions.begin() as session:
            user = await session.get(User, actor.user_id)
            if user is None or not await self.passwords.verify(user.password_hash, current):
                raise Unauthorized("the current password is wrong")
            user.password_hash = await self.passwords.hash(new)
        await self.audit.record("user.password_change", org_id=actor.org_id, actor_id=actor.user_id)

    async def invite(
        self, actor: Principal, email: str | None, role: Role
    ) -> tuple[Invitation, str]:
        require(actor, "admin")
        self._may_grant(actor, role)
        token = secrets.token_urlsafe(24)
        invitation = Invitation(
            org_id=actor.org_id,
            email=email.lower() if email else None,
            role=role,
            token_hash=hash_secret(token),
            created_by=actor.user_id,
            expires_at=utcnow() + timedelta(days=INVITATION_DAYS),
        )
        async with self.sessions.begin() as session:
            session.add(invitation)
        await self.audit.record(
            "invitation.create",
            org_id=actor.org_id,
            actor_id=actor.user_id,
            target_type="invitation",
            target_id=invitation.id,
            detail={"role": role},
        )
        return invitation, token

    async def in_organization(self, org_id: str, user_ids: list[str]) -> set[str]:
        """Which of these ids are users of the organization (for other features' checks)."""
        if not user_ids:
            return set()
        statement = select(User.id).where(User.org_id == org_id, User.id.in_(user_ids))
        async with self.sessions() as session:
            return set((await session.scalars(statement)).all())
