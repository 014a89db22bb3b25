"""Alembic migrations, run programmatically on an existing async engine."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from universal_ai_tools.db.locks import advisory_lock

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


async def upgrade(engine: AsyncEngine, revision: str = "heads") -> None:
    """Bring the schema to `revision` (every feature branch head by default); safe to call
    on every start, by many processes at once: on PostgreSQL they take turns under an
    advisory lock held for the migration's transaction (DDL is transactional there), so
    the second finds the schema up to date."""

    def run(connection: Connection) -> None:
        advisory_lock(connection, "migrations")
        command.upgrade(alembic_config(connection), revision)

    async with engine.begin() as connection:
        await connection.run_sync(run)
