"""`/rooms` and `/files`: rooms, members, history over HTTP, and file sharing."""

from __future__ import annotations

from typing import Annotated, Literal
from urllib.parse import quote

from fastapi import APIRouter, Depends, File, Query, UploadFile, status
from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.responses import FileResponse, Response

from universal_ai_tools.auth.deps import MemberDep, PrincipalDep
from universal_ai_tools.auth.identity import Identity
from universal_ai_tools.auth.principal import Principal
from universal_ai_tools.conversations.turns import Conversations
from universal_ai_tools.errors import Forbidden, NotFound
from universal_ai_tools.realtime.files import FileService
from universal_ai_tools.realtime.models import Room
from universal_ai_tools.realtime.rooms import message_event
from universal_ai_tools.realtime.ws import Realtime

router = APIRouter(tags=["rooms"])


async def get_realtime(request: Request) -> Realtime:
    realtime: Realtime = request.app.state.realtime
    return realtime


async def get_files(request: Request) -> FileService:
    files: FileService = request.app.state.files
    return files


RealtimeDep = Annotated[Realtime, Depends(get_realtime)]
FilesDep = Annotated[FileService, Depends(get_files)]


class RoomCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    members: list[str] = Field(default_factory=list, max_length=500)
    agents: list[str] = Field(default_factory=list, max_length=20)


class RoomUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=200)
    archived: bool | None = None


class MemberAdd(BaseModel):
    model_config = ConfigDict(extra="forbid")

    user_id: str = Field(max_length=32)
    role: Literal["owner", "member", "read-only"] = "member"


class AgentAdd(BaseModel):
    model_config = ConfigDict(extra="forbid")

    agent_id: str = Field(max_length=32)
    auto_reply: bool = False


class DirectRoom(BaseModel):
    user_id: str = Field(max_length=32)


class PostMessage(BaseModel):
    model_config = ConfigDict(extra="forbid")

    content: str = Field(min_length=1, max_length=16_000)
    client_id: str | None = Field(default=None, max_length=64)


class ShareFile(BaseModel):
    file_id: str = Field(max_length=32)


def _room(room: Room) -> dict[str, object]:
    return {
        "id": room.id,
        "name": room.name,
        "kind": room.kind,
        "archived": room.archived,
        "last_seq": room.last_seq,
        "created_by": room.created_by,
        "created_at": room.created_at,
    }


async def _check_people(
    request: Request, principal: Principal, users: list[str], agents: list[str]
) -> None:
    """Members and agents must belong to the caller's organization (else: 404)."""
    identity: Identity = request.app.state.identity
    known = await identity.users.in_organization(principal.org_id, users)
    if missing := [u for u in users if u not in known]:
        raise NotFound(f"user not found: {missing[0]}")
    feature: Conversations = request.app.state.conversations
    for agent_id in agents:
        await feature.agents.get(principal, agent_id)


@router.post("/rooms", status_code=status.HTTP_201_CREATED)
async def create_room(
    body: RoomCreate, request: Request, principal: MemberDep, realtime: RealtimeDep
) -> dict[str, object]:
    """Members must be users of your organization; agents must be its agents."""
    await _check_people(request, principal, body.members, body.agents)
    room = await realtime.rooms.create(principal, body.name, body.members, body.agents)
    return _room(room)


@router.post("/rooms/direct", status_code=status.HTTP_201_CREATED)
async def direct_room(
    body: DirectRoom, request: Request, principal: MemberDep, realtime: RealtimeDep
) -> dict[str, object]:
    """The direct room between you and another user (the same one every time)."""
    await _check_people(request, principal, [body.user_id], [])
    return _room(await realtime.rooms.direct(principal, body.user_id))


@router.get("/rooms")
async def list_rooms(
    principal: PrincipalDep, realtime: RealtimeDep, archived: bool = False
) -> dict[str, list[dict[str, object]]]:
    return {"data": [_room(r) for r in await realtime.rooms.mine(principal, archived)]}


@router.get("/rooms/{room_id}")
async def get_room(
    room_id: str, principal: PrincipalDep, realtime: RealtimeDep
) -> dict[str, object]:
    room, member = await realtime.rooms.membership(principal, room_id)
    members = await realtime.rooms.members(principal, room_id)
    agents = await realtime.rooms.agents(room_id)
    return {
        **_room(room),
        "role": member.role,
        "members": [
            {"user_id": m.user_id, "role": m.role, "last_read_seq": m.last_read_seq}
            for m in members
        ],
        "agents": [{"agent_id": a.agent_id, "auto_reply": a.auto_reply} for a in agents],
        "presence": realtime.hub.presence.get(room_id, {}),
    }


@router.patch("/rooms/{room_id}")
async def update_room(
    room_id: str, body: RoomUpdate, principal: PrincipalDep, realtime: RealtimeDep
) -> dict[str, object]:
    """Rename or archive (the room's owner or an admin)."""
    return _room(await realtime.rooms.update(principal, room_id, body.name, body.archived))


@router.post("/rooms/{room_id}/members", status_code=status.HTTP_201_CREATED)
async def add_member(
    room_id: str, body: MemberAdd, request: Request, principal: PrincipalDep, realtime: RealtimeDep
) -> dict[str, str]:
    await realtime.rooms.membership(principal, room_id)
    await _check_people(request, principal, [body.user_id], [])
    member = await realtime.rooms.add_member(principal, room_id, body.user_id, body.role)
    return {"user_id": member.user_id, "role": member.role}


@router.delete("/rooms/{room_id}/members/{user_id}", status_code=status.HTTP_204_NO_CONTENT)
async def remove_member(
    room_id: str, user_id: str, principal: PrincipalDep, realtime: RealtimeDep
) -> Response:
    """Remove a member (or leave, with your own id); they stop receiving events at once."""
    await realtime.rooms.remove_member(principal, room_id, user_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/rooms/{room_id}/agents", status_code=status.HTTP_201_CREATED)
async def add_agent(
    room_id: str, body: AgentAdd, request: Request, principal: PrincipalDep, realtime: RealtimeDep
) -> dict[str, object]:
    await realtime.rooms.membership(principal, room_id)
    await _check_people(request, principal, [], [body.agent_id])
    await realtime.rooms.add_agent(principal, room_id, body.agent_id, body.auto_reply)
    return {"agent_id": body.agent_id, "auto_reply": body.auto_reply}


@router.delete("/rooms/{room_id}/agents/{agent_id}", status_code=status.HTTP_204_NO_CONTENT)
async def remove_agent(
    room_id: str, agent_id: str, principal: PrincipalDep, realtime: RealtimeDep
) -> Response:
    await realtime.rooms.remove_agent(principal, room_id, agent_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/rooms/{room_id}/messages")
async def room_messages(
    room_id: str,
    principal: PrincipalDep,
    realtime: RealtimeDep,
    before: Annotated[int | None, Query(ge=0)] = None,
    after: Annotated[int | None, Query(ge=0)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> dict[str, object]:
    """Paged history by `seq`: the latest (or those `before` a seq), or those `after` one."""
    messages = await realtime.rooms.history(
        principal, room_id, before=before, after=after, limit=limit
    )
    return {"data": [message_event(m) for m in messages]}


@router.post("/rooms/{room_id}/messages", status_code=status.HTTP_201_CREATED)
async def post_message(
    room_id: str, body: PostMessage, principal: MemberDep, realtime: RealtimeDep
) -> dict[str, object]:
    """Send a message over HTTP (idempotent with `client_id`), as over the WebSocket."""
    _, member = await realtime.rooms.membership(principal, room_id)
    if member.role == "read-only":
        raise Forbidden("you may read this room but not write to it")
    posted = await realtime.rooms.post(
        room_id, body.content, user_id=principal.user_id, client_id=body.client_id
    )
    if posted.created:
        await realtime.sessions.on_message(principal, posted)
    return message_event(posted.message)


@router.post("/files", status_code=status.HTTP_201_CREATED)
async def upload_file(
    principal: MemberDep, files: FilesDep, file: Annotated[UploadFile, File()]
) -> dict[str, object]:
    """Multipart field `file`; the content type is sniffed from the bytes."""
    stored = await files.upload(principal, file)
    return {
        "id": stored.id,
        "name": stored.name,
        "size": stored.size,
        "content_type": stored.content_type,
    }


@router.get("/files/{file_id}")
async def download_file(file_id: str, principal: PrincipalDep, files: FilesDep) -> Response:
    stored = await files.get(principal, file_id)
    disposition = f"attachment; filename*=UTF-8''{quote(stored.name)}"
    return FileResponse(
        files.path_of(stored),
        media_type=stored.content_type,
        headers={
            "Content-Disposition": disposition,
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "default-src 'none'; sandbox",
            "Cache-Control": "private, no-store",
        },
    )


@router.delete("/files/{file_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_file(file_id: str, principal: PrincipalDep, files: FilesDep) -> Response:
    await files.delete(principal, file_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/rooms/{room_id}/files", status_code=status.HTTP_201_CREATED)
async def share_file(
    room_id: str, body: ShareFile, principal: MemberDep, files: FilesDep
) -> dict[str, object]:
    """Share one of your files (or one shared with you) into a room: `file.shared`."""
    stored = await files.share(principal, room_id, body.file_id)
    return {
        "id": stored.id,
        "name": stored.name,
        "size": stored.size,
        "content_type": stored.content_type,
    }
