"""Chat turns in conversations, shared by `/conversations/{id}/chat`, `/agents/{id}/chat`
and the OpenAI/Ollama routes (header `X-UAIT-Conversation`, model `agent:<name>`)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated, Any

import orjson
from fastapi import Depends
from starlette.requests import Request
from starlette.responses import Response

from universal_ai_tools.agents.models import Agent
from universal_ai_tools.agents.service import AGENT_PREFIX, AgentService
from universal_ai_tools.auth.deps import authorize_model_use, record_token_use
from universal_ai_tools.auth.identity import Identity
from universal_ai_tools.auth.principal import Principal
from universal_ai_tools.cache.service import ResponseCache
from universal_ai_tools.conversations.chat import ConversationChat, Generation, TurnPlan
from universal_ai_tools.conversations.models import Conversation, Message
from universal_ai_tools.conversations.schemas import MessageOut, TurnOut, TurnRequest
from universal_ai_tools.conversations.service import ConversationService
from universal_ai_tools.errors import BadRequest, UAITError
from universal_ai_tools.llm.completion import CACHE_HEADER, complete, complete_stream, look_up
from universal_ai_tools.llm.routing import ModelRegistry, Route
from universal_ai_tools.llm.streaming import ChunkStreamResponse
from universal_ai_tools.llm.types import ChatDelta, ChatMessage, ChatRequest, ChatResult

CONVERSATION_HEADER = "x-uait-conversation"
MESSAGE_HEADER = "X-UAIT-Message-Id"


@dataclass(frozen=True)
class Conversations:
    """The conversation feature's services, built once per app."""

    conversations: ConversationService
    agents: AgentService
    chat: ConversationChat


async def get_conversations(request: Request) -> Conversations:
    feature: Conversations = request.app.state.conversations
    return feature


ConversationsDep = Annotated[Conversations, Depends(get_conversations)]


def message_out(message: Message) -> MessageOut:
    return MessageOut.model_validate(message, from_attributes=True)


@dataclass(frozen=True)
class TurnContext:
    request: Request
    principal: Principal
    identity: Identity
    registry: ModelRegistry
    cache: ResponseCache
    feature: Conversations


def generation_for(body: TurnRequest, agent: Agent | None) -> Generation:
    """The request's parameters, else the agent's."""
    requested = Generation(
        temperature=body.temperature, top_p=body.top_p, max_tokens=body.max_tokens
    )
    return _merge(requested, agent)


def model_for(agent: Agent | None, conversation: Conversation, requested: str | None) -> str:
    return requested or (agent.model if agent else None) or conversation.model or "default"


async def start_turn(
    ctx: TurnContext,
    conversation: Conversation,
    content: str,
    *,
    agent: Agent | None,
    model: str,
    generation: Generation,
    system: str | None = None,
) -> TurnPlan:
    canonical = await authorize_model_use(ctx.principal, ctx.identity, ctx.registry, model)
    plan = await ctx.feature.chat.plan(
        ctx.principal,
        conversation,
        content,
        agent=agent,
        model=canonical,
        generation=generation,
        system=system,
    )
    return plan


async def answer(ctx: TurnContext, plan: TurnPlan) -> tuple[ChatResult, Message, str]:
    """The whole answer (non-streaming), stored; returns the cache status too."""
    lookup = await look_up(ctx.request, ctx.cache, ctx.principal.org_id, plan.model, plan.request)
    try:
        result = await complete(ctx.request, plan.route.provider, plan.request, lookup, ctx.cache)
    except UAITError as exc:
        await ctx.feature.chat.finish_failed(ctx.principal, plan, exc)
        raise
    if lookup.entry is None:
        await record_token_use(ctx.principal, ctx.identity, result.usage.total_tokens)
    message = await ctx.feature.chat.finish(ctx.principal, plan, result)
    return result, message, lookup.status


async def answer_stream(ctx: TurnContext, plan: TurnPlan) -> tuple[AsyncIterator[ChatDelta], str]:
    """The answer's deltas; it is stored when the stream ends, however it ends."""
    lookup = await look_up(ctx.request, ctx.cache, ctx.principal.org_id, plan.model, plan.request)
    try:
        deltas = await complete_stream(
            ctx.request, plan.route.provider, plan.request, lookup, ctx.cache
        )
    except UAITError as exc:
        await ctx.feature.chat.finish_failed(ctx.principal, plan, exc)
        raise
    charged = ctx.feature.chat.stream(ctx.principal, plan, deltas)
    return _charging(ctx, charged, lookup.entry is None), lookup.status


async def _charging(
    ctx: TurnContext, deltas: AsyncIterator[ChatDelta], charge: bool
) -> AsyncIterator[ChatDelta]:
    async for delta in deltas:
        if charge and delta.usage is not None:
            await record_token_use(ctx.principal, ctx.identity, delta.usage.total_tokens)
        yield delta


async def turn_response(ctx: TurnContext, plan: TurnPlan, stream: bool) -> Response:
    """Our own routes' answer: JSON `{conversation_id, user_message, message}`, or SSE events
    `start`, `delta`..., then `done` (with the stored message) or `error`."""
    if not stream:
        _, message, status = await answer(ctx, plan)
        body = TurnOut(
            conversation_id=plan.conversation.id,
            user_message=message_out(plan.user_message),
            message=message_out(message),
        )
        headers = {CACHE_HEADER: status, **plan.route.header(plan.request)}
        return Response(body.model_dump_json(), media_type="application/json", headers=headers)
    deltas, status = await answer_stream(ctx, plan)
    return ChunkStreamResponse(
        _events(ctx, plan, deltas),
        media_type="text/event-stream",
        headers={
            CACHE_HEADER: status,
            MESSAGE_HEADER: plan.assistant_id,
            "Cache-Control": "no-cache",
            **plan.route.header(plan.request),
        },
    )


def _event(payload: dict[str, Any]) -> bytes:
    return b"data: " + orjson.dumps(payload) + b"\n\n"


async def _events(
    ctx: TurnContext, plan: TurnPlan, deltas: AsyncIterator[ChatDelta]
) -> AsyncIterator[bytes]:
    yield _event(
        {
            "type": "start",
            "conversation_id": plan.conversation.id,
            "user_message": message_out(plan.user_message).model_dump(mode="json"),
            "message_id": plan.assistant_id,
        }
    )
    try:
        async for delta in deltas:
            if delta.content:
                yield _event({"type": "delta", "content": delta.content})
    except UAITError as exc:
        yield _event({"type": "error", "error": {"message": exc.message, "code": exc.code}})
        return
    stored = await ctx.feature.conversations.message(ctx.principal, plan.assistant_id)
    yield _event({"type": "done", "message": message_out(stored).model_dump(mode="json")})


async def resolve_agent_model(
    feature: Conversations, principal: Principal, model: str
) -> Agent | None:
    """`agent:<name>` names an agent of the caller's organization."""
    if not model.startswith(AGENT_PREFIX):
        return None
    return await feature.agents.by_name(principal, model.removeprefix(AGENT_PREFIX))


@dataclass(frozen=True)
class ApiTurn:
    """An OpenAI/Ollama request that names an agent or a conversation, prepared."""

    route: Route
    model: str
    chat: ChatRequest
    plan: TurnPlan | None  # set when the turn is stored in a conversation


async def prepare_api_turn(
    ctx: TurnContext, model: str, messages: list[ChatMessage], generation: Generation
) -> ApiTurn | None:
    """None for a plain request. With `X-UAIT-Conversation: <id>`, only the request's last
    user message is used (and its system message, if any): the rest of the context comes
    from the stored conversation, and both turns are stored. With `model: agent:<name>`,
    the agent's system prompt, model, parameters and memory apply."""
    agent = await resolve_agent_model(ctx.feature, ctx.principal, model)
    conversation_id = ctx.request.headers.get(CONVERSATION_HEADER)
    if agent is None and not conversation_id:
        return None
    merged = _merge(generation, agent)
    if conversation_id:
        conversation = await ctx.feature.conversations.get(ctx.principal, conversation_id)
        if agent is None and conversation.agent_id:
            agent = await ctx.feature.agents.get(ctx.principal, conversation.agent_id)
        if not messages or messages[-1].role != "user" or not messages[-1].content:
            raise BadRequest("with X-UAIT-Conversation the last message must be the user's turn")
        system = next((m.content for m in messages if m.role == "system"), None)
        chosen = agent.model if agent else (model if not model.startswith(AGENT_PREFIX) else None)
        plan = await start_turn(
            ctx,
            conversation,
            messages[-1].content,
            agent=agent,
            model=model_for(agent, conversation, chosen),
            generation=merged,
            system=system,
        )
        return ApiTurn(plan.route, plan.model, plan.request, plan)
    assert agent is not None
    canonical = await authorize_model_use(ctx.principal, ctx.identity, ctx.registry, agent.model)
    route = ctx.registry.route(canonical)
    system_parts = [agent.system_prompt]
    last_user = next((m.content for m in reversed(messages) if m.role == "user"), None)
    if agent.memory and last_user:
        remembered = await ctx.feature.chat.memory_context(ctx.principal, last_user)
        system_parts += [remembered] if remembered else []
    agent_system = ChatMessage(role="system", content="\n\n".join(system_parts))
    chat = merged.request(
        route.target, [agent_system, *(m for m in messages if m.role != "system")]
    )
    return ApiTurn(route, canonical, chat, None)


def _merge(generation: Generation, agent: Agent | None) -> Generation:
    if agent is None:
        return generation
    return Generation(
        temperature=generation.temperature
        if generation.temperature is not None
        else agent.temperature,
        top_p=generation.top_p if generation.top_p is not None else agent.top_p,
        max_tokens=generation.max_tokens or agent.max_tokens,
        stop=generation.stop,
        seed=generation.seed,
        json_mode=generation.json_mode,
    )


def turn_headers(turn: ApiTurn) -> dict[str, str]:
    if turn.plan is None:
        return {}
    return {
        "X-UAIT-Conversation": turn.plan.conversation.id,
        MESSAGE_HEADER: turn.plan.assistant_id,
    }
