"""Builds the identity services once per app and bootstraps the first owner."""

from __future__ import annotations

import sys
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from universal_ai_tools.auth.api_keys import ApiKeyService
from universal_ai_tools.auth.audit import AuditLog
from universal_ai_tools.auth.authenticator import Authenticator
from universal_ai_tools.auth.cache import Epoch, FileEpoch, IdentityCache
from universal_ai_tools.auth.devices import DeviceService
from universal_ai_tools.auth.passwords import Passwords
from universal_ai_tools.auth.sessions import SessionService
from universal_ai_tools.auth.tokens import TokenSigner, load_signing_secret
from universal_ai_tools.auth.users import UserDirectory
from universal_ai_tools.limits.base import (
    CounterStore,
    LoginThrottle,
    RequestRateLimiter,
    TokenBudget,
)
from universal_ai_tools.settings import Settings


@dataclass(frozen=True)
class Identity:
    authenticator: Authenticator
    sessions: SessionService
    users: UserDirectory
    api_keys: ApiKeyService
    devices: DeviceService
    audit: AuditLog
    rate_limiter: RequestRateLimiter
    token_budget: TokenBudget


def build_identity(
    settings: Settings,
    db: async_sessionmaker[AsyncSession],
    counters: CounterStore,
    epoch: Epoch | None = None,
) -> Identity:
    """`epoch` is the shared identity epoch in scale-out mode (Redis); by default a file in
    the data directory, shared by the worker processes of one machine."""
    signer = TokenSigner(
        load_signing_secret(settings.jwt_secret, settings.data_dir),
        ttl_seconds=settings.auth.access_ttl_seconds,
    )
    cache: IdentityCache[object] = IdentityCache(epoch or FileEpoch(settings.data_dir))
    passwords = Passwords(
        settings.auth.password_hash_time_cost, settings.auth.password_hash_memory_kib
    )
    audit = AuditLog(db)
    throttle = LoginThrottle(
        counters,
        per_account=settings.auth.login_failures_per_account,
        per_address=settings.auth.login_failures_per_address,
        window_seconds=settings.auth.login_window_seconds,
    )
    sessions = SessionService(db, signer, passwords, audit, cache, throttle, settings.auth)
    return Identity(
        authenticator=Authenticator(db, signer, cache),
        sessions=sessions,
        users=UserDirectory(db, passwords, audit, cache),
        api_keys=ApiKeyService(db, audit, cache),
        devices=DeviceService(db, audit, cache, sessions),
        audit=audit,
        rate_limiter=RequestRateLimiter(counters),
        token_budget=TokenBudget(counters),
    )


async def bootstrap_first_owner(identity: Identity, settings: Settings) -> None:
    """On an empty database: create the first owner; a generated password is shown once
    on the terminal (on purpose not through logging)."""
    first = await identity.sessions.bootstrap(settings.admin_email, settings.admin_password)
    if first is not None and first.generated_password is not None:
        print(
            f"\nCreated the first owner {first.email} with the password "
            f"{first.generated_password}\nLog in and change it (POST /auth/password).\n",
            file=sys.stderr,
            flush=True,
        )
