"""The OpenAI-compatible routes: `/v1/models`, `/v1/chat/completions`, `/v1/embeddings`."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends
from starlette.requests import Request
from starlette.responses import Response

from universal_ai_tools.auth.deps import (
    IdentityDep,
    MemberDep,
    PrincipalDep,
    authorize_model_use,
    record_token_use,
)
from universal_ai_tools.auth.identity import Identity
from universal_ai_tools.auth.principal import Principal
from universal_ai_tools.body import json_body
from universal_ai_tools.conversations.chat import Generation
from universal_ai_tools.conversations.turns import (
    ConversationsDep,
    TurnContext,
    answer,
    answer_stream,
    prepare_api_turn,
    turn_headers,
)
from universal_ai_tools.errors import UAITError
from universal_ai_tools.llm.completion import (
    CACHE_HEADER,
    CacheDep,
    complete,
    complete_stream,
    look_up,
)
from universal_ai_tools.llm.deps import RegistryDep
from universal_ai_tools.llm.openai_schemas import (
    ChatCompletion,
    ChatCompletionRequest,
    Choice,
    ChoiceMessage,
    DeploymentStatus,
    ModelCard,
    ModelExtension,
    ModelList,
    UsageBody,
)
from universal_ai_tools.llm.streaming import ChunkStreamResponse
from universal_ai_tools.llm.types import ChatDelta, ChatRequest, ChatResult, next_id

router = APIRouter(prefix="/v1", tags=["openai"])
ChatBody = Annotated[ChatCompletionRequest, Depends(json_body(ChatCompletionRequest))]
SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


@router.get("/models", response_model=ModelList)
async def list_models(principal: PrincipalDep, registry: RegistryDep) -> ModelList:
    """Every model (a key limited to some models sees only those)."""
    health = await registry.backend_health()
    allowed = principal.allowed_models
    created = int(time.time())
    models = [*registry.models.values(), *([registry.auto] if registry.auto else [])]
    cards = [
        ModelCard(
            id=model.name,
            created=created,
            owned_by=model.deployments[0].backend if model.deployments else "uait",
            uait=ModelExtension(
                tier=model.tier if model is not registry.auto else "auto",
                aliases=model.aliases,
                deployments=[
                    DeploymentStatus(
                        backend=d.backend, target=d.target, state=state, healthy=health[d.backend]
                    )
                    for d, state in registry.deployment_states(model)
                ],
            ),
        )
        for model in models
        if allowed is None or any(registry.has(a) and registry.lookup(a) is model for a in allowed)
    ]
    return ModelList(data=cards)


def to_chat_request(body: ChatCompletionRequest, target: str) -> ChatRequest:
    messages = [m.to_message() for m in body.messages]
    return generation_of(body).request(target, messages, body.tools, body.tool_choice)


@router.post("/chat/completions", response_model=ChatCompletion)
async def chat_completions(
    body: ChatBody,
    request: Request,
    principal: MemberDep,
    identity: IdentityDep,
    registry: RegistryDep,
    cache: CacheDep,
    feature: ConversationsDep,
) -> Response:
    """Chat completion, as JSON or (with `stream: true`) as server-sent events.

    `model: "agent:<name>"` chats with an agent; the header `X-UAIT-Conversation: <id>`
    stores the turn in a conversation and rebuilds the context from it.
    """
    ctx = TurnContext(request, principal, identity, registry, cache, feature)
    turn = await prepare_api_turn(
        ctx, body.model, [m.to_message() for m in body.messages], generation_of(body)
    )
    completion_id = f"chatcmpl-{next_id()}"
    created = int(time.time())
    include_usage = bool(body.stream_options and body.stream_options.include_usage)
    chunk_header = {"id": completion_id, "object": "chat.completion.chunk", "created": created}
    chunk_header["model"] = body.model
    if turn is not None and turn.plan is not None:
        headers = turn_headers(turn)
        plan = turn.plan
        if body.stream:
            deltas, status = await answer_stream(ctx, plan)
            headers.update({CACHE_HEADER: status, **plan.route.header(plan.request)})
            return ChunkStreamResponse(
                sse_events(
                    deltas, chunk_header, include_usage, UsageMeter(principal, identity, False)
                ),
                media_type="text/event-stream",
                headers={**SSE_HEADERS, **headers},
            )
        result, _, status = await answer(ctx, plan)
        headers.update({CACHE_HEADER: status, **plan.route.header(plan.request)})
        return _completion(body.model, completion_id, created, result, headers)
    if turn is None:
        model = await authorize_model_use(principal, identity, registry, body.model)
        route = registry.route(body.model)
        chat = to_chat_request(body, route.target)
    else:
        model, route, chat = turn.model, turn.route, turn.chat
    lookup = await look_up(request, cache, principal.org_id, model, chat)
    charge = lookup.entry is None  # answers from the cache cost nothing
    if body.stream:
        deltas = await complete_stream(request, route.provider, chat, lookup, cache)
        return ChunkStreamResponse(
            sse_events(
                deltas, chunk_header, include_usage, UsageMeter(principal, identity, charge)
            ),
            media_type="text/event-stream",
            headers={**SSE_HEADERS, CACHE_HEADER: lookup.status, **route.header(chat)},
        )
    result = await complete(request, route.provider, chat, lookup, cache)
    if charge:
        await record_token_use(principal, identity, result.usage.total_tokens)
    headers = {CACHE_HEADER: lookup.status, **route.header(chat)}
    return _completion(body.model, completion_id, created, result, headers)


def generation_of(body: ChatCompletionRequest) -> Generation:
    response_type = body.response_format.type if body.response_format else "text"
    return Generation(
        temperature=body.temperature,
        top_p=body.top_p,
        max_tokens=body.max_completion_tokens or body.max_tokens,
        stop=body.stop_list,
        seed=body.seed,
        json_mode=response_type in ("json_object", "json_schema"),
    )


def _completion(
    model: str, completion_id: str, created: int, result: ChatResult, headers: dict[str, str]
) -> Response:
    completion = ChatCompletion(
        id=completion_id,
        created=created,
        model=model,
        choices=[
            Choice(
                message=ChoiceMessage(content=result.content, tool_calls=result.tool_calls),
                finish_reason=result.finish_reason,
            )
        ],
        usage=UsageBody(
            prompt_tokens=result.usage.prompt_tokens,
            completion_tokens=result.usage.completion_tokens,
            total_tokens=result.usage.total_tokens,
        ),
    )
    return Response(
        completion.model_dump_json(exclude_none=True),
        media_type="application/json",
        headers=headers,
    )


def _event(payload: dict[str, Any]) -> bytes:
    return b"data: " + orjson.dumps(payload) + b"\n\n"


class UsageMeter:
    """Counts a streamed answer's tokens against the caller's budget when it ends."""

    def __init__(self, principal: Principal, identity: Identity, charge: bool) -> None:
        self.principal = principal
        self.identity = identity
        self.charge = charge

    async def record(self, delta: ChatDelta) -> None:
        if delta.usage is not None and self.charge:
            await record_token_use(self.principal, self.identity, delta.usage.total_tokens)


async def sse_events(
    deltas: AsyncIterator[ChatDelta],
    header: dict[str, Any],
    include_usage: bool,
    meter: UsageMeter,
) -> AsyncIterator[bytes]:
    """OpenAI's chunk sequence: role first, content deltas, finish, usage, `[DONE]`."""
    usage_field = {"usage": None} if include_usage else {}

    def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> bytes:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
        return _event({**header, "choices": [choice], **usage_field})

    yield chunk({"role": "assistant", "content": ""})
    try:
        async for delta in deltas:
            if delta.content:
                yield chunk({"content": delta.content})
            if delta.tool_calls:
                calls = [
                    {"index": i, **call.model_dump()} for i, call in enumerate(delta.tool_calls)
                ]
                yield chunk({"tool_calls": calls})
            if delta.finish_reason is not None:
                await meter.record(delta)
                yield chunk({}, delta.finish_reason)
                if include_usage and delta.usage is not None:
                    usage = {
                        "prompt_tokens": delta.usage.prompt_tokens,
                        "completion_tokens": delta.usage.completion_tokens,
                        "total_tokens": delta.usage.total_tokens,
                    }
                    yield _event({**header, "choices": [], "usage": usage})
    except UAITError as exc:
        yield _event({"error": {"message": exc.message, "type": exc.error_type, "code": exc.code}})
        return
    yield b"data: [DONE]\n\n"
