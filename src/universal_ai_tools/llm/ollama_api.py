"""The Ollama-compatible routes: `/api/tags`, `/api/chat`, `/api/generate`, `/api/show`, ..."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends
from starlette.requests import Request
from starlette.responses import Response

from universal_ai_tools import __version__
from universal_ai_tools.agents.service import AGENT_PREFIX
from universal_ai_tools.auth.deps import (
    IdentityDep,
    MemberDep,
    PrincipalDep,
    authorize_model_use,
    record_token_use,
)
from universal_ai_tools.auth.principal import Principal
from universal_ai_tools.body import json_body
from universal_ai_tools.conversations.chat import Generation
from universal_ai_tools.conversations.turns import (
    ApiTurn,
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
from universal_ai_tools.llm.ollama_schemas import (
    OllamaChatRequest,
    OllamaGenerateRequest,
    OllamaShowRequest,
)
from universal_ai_tools.llm.routing import ModelRegistry
from universal_ai_tools.llm.streaming import ChunkStreamResponse
from universal_ai_tools.llm.types import (
    ChatDelta,
    ChatMessage,
    ChatResult,
    ModelInfo,
    ToolCall,
    ToolSpec,
    Usage,
)

router = APIRouter(prefix="/api", tags=["ollama"])
ChatBody = Annotated[OllamaChatRequest, Depends(json_body(OllamaChatRequest))]
GenerateBody = Annotated[OllamaGenerateRequest, Depends(json_body(OllamaGenerateRequest))]
ShowBody = Annotated[OllamaShowRequest, Depends(json_body(OllamaShowRequest))]
NDJSON = "application/x-ndjson"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def _json(payload: dict[str, Any]) -> Response:
    return Response(orjson.dumps(payload), media_type="application/json")


def _details(info: ModelInfo) -> dict[str, Any]:
    return {
        "parent_model": "",
        "format": "gguf",
        "family": info.family,
        "families": [info.family] if info.family else None,
        "parameter_size": info.parameter_size,
        "quantization_level": info.quantization,
    }


async def _describe(registry: ModelRegistry, name: str) -> ModelInfo:
    route = registry.route(name, kind=None)
    info = await route.provider.model_info(route.target)
    info.name = name
    return info


@router.get("/version")
async def version(principal: PrincipalDep) -> Response:
    return _json({"version": __version__})


@router.get("/tags")
async def tags(principal: PrincipalDep, registry: RegistryDep) -> Response:
    models = []
    for name in _visible_models(principal, registry):
        info = await _describe(registry, name)
        entry = {"name": name, "model": name, "modified_at": info.modified_at or _now()}
        models.append(
            {**entry, "size": info.size, "digest": info.digest, "details": _details(info)}
        )
    return _json({"models": models})


@router.get("/ps")
async def running(principal: PrincipalDep, registry: RegistryDep) -> Response:
    """Models loaded in this process (the embedded ones); remote backends manage their own."""
    models = []
    for name in _visible_models(principal, registry):
        model = registry.models[name]
        provider = registry.providers[model.deployments[0].backend]
        if provider.kind != "embedded" or not await provider.health():
            continue
        info = await _describe(registry, name)
        models.append(
            {
                "name": name,
                "model": name,
                "size": info.size,
                "digest": info.digest,
                "details": _details(info),
                "expires_at": "2999-12-31T00:00:00Z",
                "size_vram": 0,
            }
        )
    return _json({"models": models})


@router.post("/show")
async def show(
    body: ShowBody, principal: PrincipalDep, identity: IdentityDep, registry: RegistryDep
) -> Response:
    await authorize_model_use(principal, identity, registry, body.model)
    info = await _describe(registry, body.model)
    model_kind = registry.lookup(body.model).kind
    model_info: dict[str, Any] = {"general.architecture": info.family}
    if info.context_size:
        model_info[f"{info.family or 'model'}.context_length"] = info.context_size
    return _json(
        {
            "modelfile": f"FROM {info.name}\n",
            "parameters": "",
            "template": "",
            "details": _details(info),
            "model_info": model_info,
            "capabilities": ["embedding"] if model_kind == "embedding" else ["completion"],
            "modified_at": info.modified_at or _now(),
        }
    )


def _generation(body: OllamaChatRequest | OllamaGenerateRequest) -> Generation:
    return Generation(
        temperature=body.options.temperature,
        top_p=body.options.top_p,
        max_tokens=body.options.max_tokens,
        stop=body.options.stop or [],
        seed=body.options.seed,
        json_mode=body.json_mode,
    )


@router.post("/chat")
async def chat(
    body: ChatBody,
    request: Request,
    principal: MemberDep,
    identity: IdentityDep,
    registry: RegistryDep,
    cache: CacheDep,
    feature: ConversationsDep,
) -> Response:
    """`model: "agent:<name>"` and the header `X-UAIT-Conversation` work as on `/v1`."""
    ctx = TurnContext(request, principal, identity, registry, cache, feature)
    messages = [m.to_message() for m in body.messages]
    if not body.messages:  # Ollama's way to load a model: answer at once
        if not body.model.startswith(AGENT_PREFIX):  # an unknown or forbidden model still fails
            await authorize_model_use(principal, identity, registry, body.model)
        return _json(_final(body.model, {"message": _message("")}, None, "load"))
    turn = await _turn(ctx, body, messages, body.tools)
    return await _answer(ctx, turn, body, _chat_piece)


@router.post("/generate")
async def generate(
    body: GenerateBody,
    request: Request,
    principal: MemberDep,
    identity: IdentityDep,
    registry: RegistryDep,
    cache: CacheDep,
    feature: ConversationsDep,
) -> Response:
    ctx = TurnContext(request, principal, identity, registry, cache, feature)
    if not body.prompt and not body.images:  # Ollama's way to load a model
        if not body.model.startswith(AGENT_PREFIX):  # an unknown or forbidden model still fails
            await authorize_model_use(principal, identity, registry, body.model)
        return _json(_final(body.model, {"response": ""}, None, "load"))
    messages = body.to_messages()
    turn = await _turn(ctx, body, messages, None)
    return await _answer(ctx, turn, body, _generate_piece)


async def _turn(
    ctx: TurnContext,
    body: OllamaChatRequest | OllamaGenerateRequest,
    messages: list[ChatMessage],
    tools: list[ToolSpec] | None,
) -> ApiTurn:
    """An agent or conversation turn when the request names one, else a plain call."""
    generation = _generation(body)
    turn = await prepare_api_turn(ctx, body.model, messages, generation)
    if turn is not None:
        return turn
    model = await authorize_model_use(ctx.principal, ctx.identity, ctx.registry, body.model)
    route = ctx.registry.route(body.model)
    return ApiTurn(route, model, generation.request(route.target, messages, tools), None)


Piece = Callable[[str, list[ToolCall] | None], dict[str, Any]]


def _message(content: str, calls: list[ToolCall] | None = None) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if calls:
        message["tool_calls"] = [
            {
                "function": {
                    "name": c.function.name,
                    "arguments": orjson.loads(c.function.arguments or "{}"),
                }
            }
            for c in calls
        ]
    return message


def _chat_piece(content: str, calls: list[ToolCall] | None) -> dict[str, Any]:
    return {"message": _message(content, calls)}


def _generate_piece(content: str, calls: list[ToolCall] | None) -> dict[str, Any]:
    return {"response": content}


def _final(
    model: str, piece: dict[str, Any], delta: ChatDelta | None, reason: str, started: int = 0
) -> dict[str, Any]:
    total = time.perf_counter_ns() - started if started else 0
    timings = delta.timings if delta else None
    usage = delta.usage if delta else None
    return {
        "model": model,
        "created_at": _now(),
        **piece,
        "done": True,
        "done_reason": reason,
        "total_duration": total,
        "load_duration": timings.load_ns if timings else 0,
        "prompt_eval_count": usage.prompt_tokens if usage else 0,
        "prompt_eval_duration": timings.prompt_eval_ns if timings else 0,
        "eval_count": usage.completion_tokens if usage else 0,
        "eval_duration": timings.eval_ns if timings else 0,
    }


def _done_reason(delta: ChatDelta) -> str:
    return "length" if delta.finish_reason == "length" else "stop"


@dataclass(frozen=True, slots=True)
class _Charge:
    """Counts an answer's tokens against the caller's budget (not for cached answers)."""

    ctx: TurnContext
    enabled: bool

    async def record(self, usage: Usage | None) -> None:
        if usage is not None and self.enabled:
            await record_token_use(self.ctx.principal, self.ctx.identity, usage.total_tokens)


def _visible_models(principal: Principal, registry: ModelRegistry) -> list[str]:
    allowed = principal.allowed_models
    if allowed is None:
        return list(registry.models)
    names = {registry.lookup(a).name for a in allowed if registry.has(a)}
    return [name for name in registry.models if name in names]


async def _answer(
    ctx: TurnContext,
    turn: ApiTurn,
    body: OllamaChatRequest | OllamaGenerateRequest,
    piece: Piece,
) -> Response:
    started = time.perf_counter_ns()
    headers = turn_headers(turn)
    route, chat_request = turn.route, turn.chat  # a conversation turn's plan has the same
    if turn.plan is not None:  # a stored conversation turn: stored and charged there
        charge: _Charge = _Charge(ctx, False)
        if not body.stream:
            result, _, status = await answer(ctx, turn.plan)
            headers.update(route.header(chat_request))
            return _whole(body, piece, result, started, {**headers, CACHE_HEADER: status})
        deltas, status = await answer_stream(ctx, turn.plan)
    else:
        request = ctx.request
        lookup = await look_up(request, ctx.cache, ctx.principal.org_id, turn.model, turn.chat)
        charge = _Charge(ctx, lookup.entry is None)  # answers from the cache cost nothing
        status = lookup.status
        if not body.stream:
            result = await complete(request, turn.route.provider, turn.chat, lookup, ctx.cache)
            await charge.record(result.usage)
            headers.update(route.header(chat_request))
            return _whole(body, piece, result, started, {**headers, CACHE_HEADER: status})
        deltas = await complete_stream(request, turn.route.provider, turn.chat, lookup, ctx.cache)
    return ChunkStreamResponse(
        _ndjson(deltas, body.model, piece, started, charge),
        media_type=NDJSON,
        headers={**headers, CACHE_HEADER: status, **route.header(chat_request)},
    )


def _whole(
    body: OllamaChatRequest | OllamaGenerateRequest,
    piece: Piece,
    result: ChatResult,
    started: int,
    headers: dict[str, str],
) -> Response:
    delta = ChatDelta(
        finish_reason=result.finish_reason, usage=result.usage, timings=result.timings
    )
    content = piece(result.content, result.tool_calls)
    final = _final(body.model, content, delta, _done_reason(delta), started)
    return Response(orjson.dumps(final), media_type="application/json", headers=headers)


async def _ndjson(
    deltas: AsyncIterator[ChatDelta], model: str, piece: Piece, started: int, charge: _Charge
) -> AsyncIterator[bytes]:
    try:
        async for delta in deltas:
            if delta.finish_reason is not None:
                await charge.record(delta.usage)
                final = _final(
                    model, piece("", delta.tool_calls), delta, _done_reason(delta), started
                )
                yield orjson.dumps(final) + b"\n"
                return
            if delta.content or delta.tool_calls:
                line = {
                    "model": model,
                    "created_at": _now(),
                    **piece(delta.content, delta.tool_calls),
                }
                yield orjson.dumps({**line, "done": False}) + b"\n"
    except UAITError as exc:
        yield orjson.dumps({"error": exc.message}) + b"\n"
