"""`uait users ...`, `uait keys ...`, `uait db ...`: local administration on the database.

These commands act directly on the configured database with the rights of the machine's
operator (an owner of the chosen organization), like a web framework's manage command.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Annotated, TypeVar

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from universal_ai_tools.auth.identity import Identity, bootstrap_first_owner, build_identity
from universal_ai_tools.auth.models import ApiKey, Organization, User
from universal_ai_tools.auth.principal import Principal, Role
from universal_ai_tools.db import migrate
from universal_ai_tools.db.engine import engine_for, session_factory
from universal_ai_tools.errors import UAITError
from universal_ai_tools.limits.memory import MemoryCounterStore
from universal_ai_tools.settings import ConfigError, load_settings

T = TypeVar("T")
Sessions = async_sessionmaker[AsyncSession]
users_app = typer.Typer(help="Manage users (directly on the database).", no_args_is_help=True)
keys_app = typer.Typer(help="Manage API keys (directly on the database).", no_args_is_help=True)
db_app = typer.Typer(help="Database maintenance.", no_args_is_help=True)
console = Console()
errors = Console(stderr=True)
OrgOption = Annotated[
    str | None, typer.Option("--org", help="Organization id (default: the first one).")
]


@asynccontextmanager
async def _identity() -> AsyncIterator[tuple[Identity, Sessions]]:
    settings = load_settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = engine_for(settings)
    try:
        await migrate.upgrade(engine)
        sessions = session_factory(engine)
        identity = build_identity(settings, sessions, MemoryCounterStore())
        await bootstrap_first_owner(identity, settings)
        yield identity, sessions
    finally:
        await engine.dispose()


async def prepare_database() -> None:
    """The schema and the first owner, as a server's start makes them (`uait serve`
    does this once before it starts several workers)."""
    async with _identity():
        pass


async def _operator(sessions: Sessions, org_id: str | None) -> Principal:
    """The operator acts as an owner of the organization."""
    async with sessions() as session:
        statement = select(Organization).order_by(Organization.created_at)
        if org_id:
            statement = statement.where(Organization.id == org_id)
        organization = await session.scalar(statement)
    if organization is None:
        raise UAITError("no such organization")
    return Principal(
        user_id="cli",
        org_id=organization.id,
        email="cli",
        role="owner",
        instance_admin=True,
        via="token",
    )


async def _as_user(sessions: Sessions, email: str) -> Principal:
    async with sessions() as session:
        user = await session.scalar(select(User).where(User.email == email.lower()))
    if user is None:
        raise UAITError(f"no user with the email {email}")
    return Principal(
        user_id=user.id,
        org_id=user.org_id,
        email=user.email,
        role=user.role,  # type: ignore[arg-type]
        instance_admin=user.instance_admin,
        via="token",
    )


def _run(work: Callable[[Identity, Sessions], Awaitable[T]]) -> T:
    async def main() -> T:
        async with _identity() as (identity, sessions):
            return await work(identity, sessions)

    try:
        return asyncio.run(main())
    except (UAITError, ConfigError) as exc:
        errors.print(f"[red]error:[/red] {getattr(exc, 'message', exc)}")
        raise typer.Exit(code=1) from None


@users_app.command("create")
def create_user(
    email: Annotated[str, typer.Option(prompt=True)],
    password: Annotated[str, typer.Option(prompt=True, hide_input=True, confirmation_prompt=True)],
    role: Annotated[str, typer.Option(help="owner, admin, member or viewer")] = "member",
    org: OrgOption = None,
) -> None:
    """Create a user in an organization."""

    async def work(identity: Identity, sessions: Sessions) -> User:
        actor = await _operator(sessions, org)
        return await identity.users.create_user(actor, email, password, _role(role))

    user = _run(work)
    console.print(f"created {user.email} ({user.role}) id={user.id}")


def _role(value: str) -> Role:
    if value not in ("owner", "admin", "member", "viewer"):
        errors.print("[red]error:[/red] the role must be owner, admin, member or viewer")
        raise typer.Exit(code=1)
    return value  # type: ignore[return-value]


@users_app.command("list")
def list_users(org: OrgOption = None) -> None:
    """List the users of an organization."""

    async def work(identity: Identity, sessions: Sessions) -> list[User]:
        return await identity.users.list_users(await _operator(sessions, org))

    table = Table("id", "email", "role", "suspended", "created")
    for user in _run(work):
        table.add_row(user.id, user.email, user.role, str(user.suspended), str(user.created_at))
    console.print(table)


@users_app.command("set-role")
def set_role(email: str, role: str, org: OrgOption = None) -> None:
    """Change a user's role (takes effect on their next request)."""

    async def work(identity: Identity, sessions: Sessions) -> User:
        user = await _as_user(sessions, email)
        return await identity.users.update_user(
            await _operator(sessions, user.org_id), user.user_id, _role(role), None
        )

    user = _run(work)
    console.print(f"{user.email} is now {user.role}")


@users_app.command("suspend")
def suspend(
    email: str, undo: Annotated[bool, typer.Option("--undo", help="Lift the suspension.")] = False
) -> None:
    """Suspend a user (their tokens and keys stop working at once), or lift it."""

    async def work(identity: Identity, sessions: Sessions) -> User:
        user = await _as_user(sessions, email)
        return await identity.users.update_user(
            await _operator(sessions, user.org_id), user.user_id, None, not undo
        )

    user = _run(work)
    console.print(f"{user.email} {'is suspended' if user.suspended else 'is active'}")


@keys_app.command("create")
def create_key(
    email: Annotated[str, typer.Option(help="The user the key belongs to.")],
    name: Annotated[str, typer.Option()] = "cli",
    models: Annotated[str | None, typer.Option(help="Comma-separated allowlist.")] = None,
    rpm: Annotated[int | None, typer.Option(min=1)] = None,
    daily_tokens: Annotated[int | None, typer.Option(min=1)] = None,
) -> None:
    """Create an API key; the key is printed once."""
    allow = [m.strip() for m in models.split(",") if m.strip()] if models else None

    async def work(identity: Identity, sessions: Sessions) -> str:
        actor = await _as_user(sessions, email)
        _, secret = await identity.api_keys.create(actor, name, allow, rpm, daily_tokens)
        return secret

    console.print(_run(work), soft_wrap=True)


@keys_app.command("list")
def list_keys(email: Annotated[str | None, typer.Option()] = None, org: OrgOption = None) -> None:
    """List API keys (of one user, or of the whole organization)."""

    async def work(identity: Identity, sessions: Sessions) -> list[ApiKey]:
        actor = await (_as_user(sessions, email) if email else _operator(sessions, org))
        keys = await identity.api_keys.list(actor)
        return [k for k in keys if not email or k.user_id == actor.user_id]

    table = Table("id", "name", "prefix", "user", "models", "revoked")
    for key in _run(work):
        table.add_row(
            key.id,
            key.name,
            key.prefix,
            key.user_id,
            ",".join(key.models or []) or "all",
            str(key.revoked_at or ""),
        )
    console.print(table)


@keys_app.command("revoke")
def revoke_key(key_id: str, org: OrgOption = None) -> None:
    """Revoke an API key (refused from its next request on)."""

    async def work(identity: Identity, sessions: Sessions) -> None:
        await identity.api_keys.revoke(await _operator(sessions, org), key_id)

    _run(work)
    console.print(f"revoked {key_id}")


@db_app.command("upgrade")
def upgrade() -> None:
    """Apply the database migrations (the server also does this at start)."""

    async def work(identity: Identity, sessions: Sessions) -> None:
        return None

    _run(work)
    console.print("the database is up to date")
