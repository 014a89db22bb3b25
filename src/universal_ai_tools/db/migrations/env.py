"""Alembic environment: always handed a live connection by `db.migrate.upgrade`."""

from __future__ import annotations

from alembic import context

from universal_ai_tools.db.base import Base

config = context.config
connection = config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations with `uait db upgrade`, not with the alembic command")

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
