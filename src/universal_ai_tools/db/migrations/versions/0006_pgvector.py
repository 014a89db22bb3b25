"""pgvector on PostgreSQL: memories' vector column and the semantic cache's vector table.

Nothing happens on SQLite, where vector search stays in process (NumPy). On PostgreSQL:
the `vector` extension (creating it needs a superuser unless it exists already), a
`vector(384)` column on `memories` filled from the stored embeddings, a `cache_vectors`
table (the semantic cache's nearest-neighbour index; the entries stay in Redis), and
HNSW indexes with cosine distance on both.

Revision ID: 0006_pgvector
Revises: 0004
Create Date: 2026-11-28
"""

from __future__ import annotations

import numpy as np
import sqlalchemy as sa
from alembic import op

revision = "0006_pgvector"
down_revision = "0004"
branch_labels = None
depends_on = None

DIMENSIONS = 384  # embeddings.pgvector.DIMENSIONS when this revision was written


def _backfill_memories(connection: sa.Connection) -> None:
    rows = connection.execute(
        sa.text("SELECT id, embedding FROM memories WHERE length(embedding) = :size"),
        {"size": DIMENSIONS * 4},
    ).all()
    for memory_id, raw in rows:
        vector = np.frombuffer(raw, dtype="<f4")
        text = "[" + ",".join(repr(float(v)) for v in vector) + "]"
        connection.execute(
            sa.text("UPDATE memories SET embedding_vector = CAST(:v AS vector) WHERE id = :id"),
            {"v": text, "id": memory_id},
        )


def upgrade() -> None:
    connection = op.get_bind()
    if connection.dialect.name != "postgresql":
        return
    op.execute("CREATE EXTENSION IF NOT EXISTS vector")
    op.execute(f"ALTER TABLE memories ADD COLUMN embedding_vector vector({DIMENSIONS})")
    _backfill_memories(connection)
    op.execute(
        "CREATE INDEX ix_memories_embedding_hnsw ON memories "
        "USING hnsw (embedding_vector vector_cosine_ops)"
    )
    op.execute(
        f"""
        CREATE TABLE cache_vectors (
            entry_id VARCHAR(64) PRIMARY KEY,
            org_id VARCHAR(32) NOT NULL,
            model VARCHAR(256) NOT NULL,
            context VARCHAR(64) NOT NULL,
            embedding vector({DIMENSIONS}) NOT NULL,
            created_at TIMESTAMP WITH TIME ZONE NOT NULL
        )
        """
    )
    op.create_index("ix_cache_vectors_scope", "cache_vectors", ["org_id", "model", "context"])
    op.create_index("ix_cache_vectors_created_at", "cache_vectors", ["created_at"])
    op.execute(
        "CREATE INDEX ix_cache_vectors_embedding_hnsw ON cache_vectors "
        "USING hnsw (embedding vector_cosine_ops)"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.drop_table("cache_vectors")
    op.execute("DROP INDEX IF EXISTS ix_memories_embedding_hnsw")
    op.execute("ALTER TABLE memories DROP COLUMN IF EXISTS embedding_vector")
