"""The `memories` table. Only `memory.service.MemoryService` reads and writes it."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from universal_ai_tools.db.base import Base
from universal_ai_tools.db.types import UTCDateTime, new_id, utcnow

ID = String(32)


class Memory(Base):
    """One fact about a user, with its embedding (float32 little-endian; empty if none)."""

    __tablename__ = "memories"
    __table_args__ = (Index("ix_memories_org_user", "org_id", "user_id"),)

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    org_id: Mapped[str] = mapped_column(ID, ForeignKey("organizations.id", ondelete="CASCADE"))
    user_id: Mapped[str] = mapped_column(ID, ForeignKey("users.id", ondelete="CASCADE"))
    content: Mapped[str] = mapped_column(Text)
    embedding: Mapped[bytes] = mapped_column(LargeBinary, default=b"")
    source_message_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
