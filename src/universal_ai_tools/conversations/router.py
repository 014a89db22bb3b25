"""`/conversations`, `/feedback`: a user's conversations, the prompt inspector, feedback."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

import orjson
from fastapi import APIRouter, Depends, Query, status
from starlette.requests import Request
from starlette.responses import Response

from universal_ai_tools.auth.deps import IdentityDep, MemberDep, PrincipalDep
from universal_ai_tools.conversations.feedback import FeedbackService
from universal_ai_tools.conversations.schemas import (
    ConversationCreate,
    ConversationOut,
    ConversationUpdate,
    FeedbackCreate,
    FeedbackOut,
    MessageOut,
    PromptOut,
    SummaryOut,
    TurnRequest,
)
from universal_ai_tools.conversations.service import ConversationQuery
from universal_ai_tools.conversations.turns import (
    ConversationsDep,
    TurnContext,
    generation_for,
    message_out,
    model_for,
    start_turn,
    turn_response,
)
from universal_ai_tools.errors import BadRequest, NotFound
from universal_ai_tools.llm.completion import CacheDep
from universal_ai_tools.llm.deps import RegistryDep

router = APIRouter(tags=["conversations"])


async def get_feedback(request: Request) -> FeedbackService:
    service: FeedbackService = request.app.state.feedback
    return service


FeedbackDep = Annotated[FeedbackService, Depends(get_feedback)]


def _out(conversation: object) -> ConversationOut:
    return ConversationOut.model_validate(conversation, from_attributes=True)


@router.post("/conversations", response_model=ConversationOut, status_code=status.HTTP_201_CREATED)
async def create(
    body: ConversationCreate, principal: MemberDep, feature: ConversationsDep, registry: RegistryDep
) -> ConversationOut:
    if body.agent_id is not None:
        await feature.agents.get(principal, body.agent_id)
    if body.model is not None and not registry.has(body.model):
        raise BadRequest(f"unknown model {body.model!r}")
    conversation = await feature.conversations.create(
        principal, title=body.title, model=body.model, agent_id=body.agent_id, memory=body.memory
    )
    return _out(conversation)


@router.get("/conversations")
async def list_conversations(
    principal: PrincipalDep,
    feature: ConversationsDep,
    q: Annotated[
        str | None, Query(max_length=200, description="Search titles and messages")
    ] = None,
    archived: bool | None = False,
    before: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> dict[str, object]:
    """Newest first; page with `before` (the `updated_at` of the last item)."""
    found = await feature.conversations.find(
        principal, ConversationQuery(q, archived, before, limit + 1)
    )
    return {"data": [_out(c) for c in found[:limit]], "has_more": len(found) > limit}


@router.get("/conversations/{conversation_id}", response_model=ConversationOut)
async def get(
    conversation_id: str, principal: PrincipalDep, feature: ConversationsDep
) -> ConversationOut:
    return _out(await feature.conversations.get(principal, conversation_id))


@router.patch("/conversations/{conversation_id}", response_model=ConversationOut)
async def update(
    conversation_id: str,
    body: ConversationUpdate,
    principal: PrincipalDep,
    feature: ConversationsDep,
) -> ConversationOut:
    """Rename (`title`) or archive (`archived`)."""
    return _out(
        await feature.conversations.update(
            principal, conversation_id, title=body.title, archived=body.archived
        )
    )


@router.delete("/conversations/{conversation_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete(
    conversation_id: str, principal: PrincipalDep, feature: ConversationsDep
) -> Response:
    await feature.conversations.delete(principal, conversation_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/conversations/{conversation_id}/messages")
async def messages(
    conversation_id: str, principal: PrincipalDep, feature: ConversationsDep
) -> dict[str, list[MessageOut]]:
    stored = await feature.conversations.messages(principal, conversation_id)
    return {"data": [message_out(m) for m in stored]}


@router.get("/conversations/{conversation_id}/export")
async def export(
    conversation_id: str,
    principal: PrincipalDep,
    feature: ConversationsDep,
    format: Literal["json", "markdown"] = "json",
) -> Response:
    conversation = await feature.conversations.get(principal, conversation_id)
    stored = await feature.conversations.messages(principal, conversation_id)
    name = f"conversation-{conversation.id}"
    if format == "markdown":
        lines = [f"# {conversation.title or 'Conversation'}", ""]
        for message in stored:
            lines += [f"## {message.role}", "", message.content, ""]
        return Response(
            "\n".join(lines),
            media_type="text/markdown; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}.md"'},
        )
    payload = {
        "conversation": _out(conversation).model_dump(mode="json"),
        "messages": [message_out(m).model_dump(mode="json") for m in stored],
    }
    return Response(
        orjson.dumps(payload, option=orjson.OPT_INDENT_2),
        media_type="application/json",
        headers={"Content-Disposition": f'attachment; filename="{name}.json"'},
    )


@router.get(
    "/conversations/{conversation_id}/messages/{message_id}/prompt", response_model=PromptOut
)
async def inspect_prompt(
    conversation_id: str, message_id: str, principal: PrincipalDep, feature: ConversationsDep
) -> PromptOut:
    """The prompt inspector: what was sent to the model for this answer, and to which backend."""
    message = await feature.conversations.message(principal, message_id)
    if message.conversation_id != conversation_id or message.prompt is None:
        raise NotFound("no prompt recorded for this message (only assistant messages have one)")
    snapshot = orjson.loads(message.prompt)
    return PromptOut(message_id=message.id, **snapshot)


@router.post("/conversations/{conversation_id}/chat")
async def chat(
    conversation_id: str,
    body: TurnRequest,
    request: Request,
    principal: MemberDep,
    identity: IdentityDep,
    registry: RegistryDep,
    cache: CacheDep,
    feature: ConversationsDep,
) -> Response:
    """Send only the new user turn; the context is rebuilt from the stored conversation."""
    conversation = await feature.conversations.get(principal, conversation_id)
    agent = (
        await feature.agents.get(principal, conversation.agent_id)
        if conversation.agent_id
        else None
    )
    ctx = TurnContext(request, principal, identity, registry, cache, feature)
    plan = await start_turn(
        ctx,
        conversation,
        body.content,
        agent=agent,
        model=model_for(agent, conversation, body.model),
        generation=generation_for(body, agent),
        system=body.system,
    )
    return await turn_response(ctx, plan, body.stream)


@router.post("/feedback", response_model=FeedbackOut, status_code=status.HTTP_201_CREATED)
async def give_feedback(
    body: FeedbackCreate, principal: PrincipalDep, service: FeedbackDep
) -> FeedbackOut:
    """Thumbs, a 1-5 rating and a comment on one of your assistant messages."""
    feedback = await service.give(principal, body.message_id, body.thumb, body.rating, body.comment)
    return FeedbackOut.model_validate(feedback, from_attributes=True)


@router.get("/feedback/summary")
async def feedback_summary(
    principal: PrincipalDep,
    service: FeedbackDep,
    model: str | None = None,
    agent_id: str | None = None,
) -> dict[str, list[SummaryOut]]:
    rows = await service.summary(principal, model, agent_id)
    return {"data": [SummaryOut.model_validate(row, from_attributes=True) for row in rows]}
