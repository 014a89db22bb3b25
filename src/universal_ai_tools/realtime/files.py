"""Files: uploaded over HTTP, stored under server-generated names, shared into rooms.

A file is downloadable by its owner and by members of a room it was shared into. It is
always served as an attachment with `nosniff` and a sandboxing CSP, so HTML or SVG never
runs in the browser; its name is only metadata, never a path.
"""

from __future__ import annotations

import asyncio
import secrets
import unicodedata
from pathlib import Path

from fastapi import UploadFile
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from universal_ai_tools.auth.principal import Principal
from universal_ai_tools.errors import BadRequest, NotFound, PayloadTooLarge
from universal_ai_tools.realtime.bus import room_channel
from universal_ai_tools.realtime.models import RoomFile, RoomMember, StoredFile
from universal_ai_tools.realtime.rooms import RoomService

CHUNK = 64 * 1024
SIGNATURES: list[tuple[bytes, str]] = [
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"%PDF-", "application/pdf"),
    (b"PK\x03\x04", "application/zip"),
    (b"RIFF", "application/octet-stream"),
]


def sniff(head: bytes) -> str:
    """The content type from the bytes themselves, never from the client's claim."""
    for signature, content_type in SIGNATURES:
        if head.startswith(signature):
            return content_type
    if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return "image/webp"
    try:
        head.decode("utf-8")
    except UnicodeDecodeError:
        return "application/octet-stream"
    return "text/plain; charset=utf-8"


def clean_name(name: str | None) -> str:
    """A display name: no directories, no control characters, at most 200 characters."""
    base = (name or "").replace("\\", "/").split("/")[-1]
    base = "".join(ch for ch in base if unicodedata.category(ch)[0] != "C").strip(" .")
    return base[:200] or "file"


class FileService:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        rooms: RoomService,
        directory: Path,
        max_bytes: int,
    ) -> None:
        self.sessions = sessions
        self.rooms = rooms
        self.directory = directory
        self.max_bytes = max_bytes

    def path_of(self, stored: StoredFile) -> Path:
        return self.directory / stored.storage_name

    async def upload(self, actor: Principal, upload: UploadFile) -> StoredFile:
        if not actor.at_least("member"):
            raise BadRequest("viewers cannot upload files")
        self.directory.mkdir(parents=True, exist_ok=True)
        storage_name = secrets.token_hex(16)
        target = self.directory / storage_name
        size = 0
        head = b""
        handle = await asyncio.to_thread(target.open, "xb")
        try:
            while chunk := await upload.read(CHUNK):
                size += len(chunk)
                if size > self.max_bytes:
                    raise PayloadTooLarge(f"files are limited to {self.max_bytes} bytes")
                if len(head) < 512:
                    head += chunk[: 512 - len(head)]
                await asyncio.to_thread(handle.write, chunk)
        except BaseException:
            handle.close()
            target.unlink(missing_ok=True)
            raise
        await asyncio.to_thread(handle.close)
        if size == 0:
            target.unlink(missing_ok=True)
            raise BadRequest("the file is empty")
        stored = StoredFile(
            org_id=actor.org_id,
            owner_id=actor.user_id,
            name=clean_name(upload.filename),
            size=size,
            content_type=sniff(head),
            storage_name=storage_name,
        )
        async with self.sessions.begin() as session:
            session.add(stored)
        return stored

    async def get(self, actor: Principal, file_id: str) -> StoredFile:
        """The file, if the caller owns it or is a member of a room it was shared into."""
        async with self.sessions() as session:
            stored = await session.get(StoredFile, file_id)
            if stored is None or stored.org_id != actor.org_id:
                raise NotFound("file not found")
            if stored.owner_id == actor.user_id:
                return stored
            shared = await session.scalar(
                select(RoomFile.room_id)
                .join(RoomMember, RoomMember.room_id == RoomFile.room_id)
                .where(RoomFile.file_id == file_id, RoomMember.user_id == actor.user_id)
                .limit(1)
            )
        if shared is None:
            raise NotFound("file not found")
        return stored

    async def share(self, actor: Principal, room_id: str, file_id: str) -> StoredFile:
        _, member = await self.rooms.membership(actor, room_id)
        if member.role == "read-only":
            raise BadRequest("read-only members cannot share files")
        stored = await self.get(actor, file_id)
        async with self.sessions.begin() as session:
            if await session.get(RoomFile, (room_id, file_id)) is None:
                session.add(RoomFile(room_id=room_id, file_id=file_id, shared_by=actor.user_id))
        await self.rooms.post(
            room_id, stored.name, user_id=actor.user_id, kind="file", file_id=stored.id
        )
        await self.rooms.bus.publish(
            room_channel(room_id),
            {
                "type": "file.shared",
                "room": room_id,
                "user_id": actor.user_id,
                "file": {
                    "id": stored.id,
                    "name": stored.name,
                    "size": stored.size,
                    "content_type": stored.content_type,
                },
            },
        )
        return stored

    async def delete(self, actor: Principal, file_id: str) -> None:
        async with self.sessions.begin() as session:
            stored = await session.get(StoredFile, file_id)
            if stored is None or stored.org_id != actor.org_id or stored.owner_id != actor.user_id:
                raise NotFound("file not found")
            await session.delete(stored)
        await asyncio.to_thread(self.path_of(stored).unlink, True)
