"""One chat turn inside a conversation: rebuild the prompt from storage, store both turns.

The prompt is: one system message (the agent's or the caller's system prompt, plus the
user's relevant memories when memory is on), then as many of the most recent stored
turns as fit the model's context window, then the new user turn. Tokens are estimated
as `len(text) / 3 + 4` per message (generous for English), keeping `max_tokens` (or 256)
free for the answer; the oldest turns are dropped first. A provider that can count a
prompt's tokens exactly (the embedded model) has the last word: turns are dropped until
the real prompt fits.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson

from universal_ai_tools.agents.models import Agent
from universal_ai_tools.auth.principal import Principal
from universal_ai_tools.conversations.models import Conversation, Message
from universal_ai_tools.conversations.service import ConversationService
from universal_ai_tools.db.types import new_id
from universal_ai_tools.errors import UAITError
from universal_ai_tools.llm.routing import CountsTokens, ModelRegistry, Route
from universal_ai_tools.llm.types import ChatDelta, ChatMessage, ChatRequest, ChatResult, ToolSpec

DEFAULT_CONTEXT = 8192
DEFAULT_RESERVE = 256


class MemoryProvider(Protocol):
    """What the chat needs of long-term memory (the memory feature provides it)."""

    async def context_for(self, principal: Principal, text: str) -> str: ...

    async def after_turn(self, principal: Principal, text: str, message_id: str) -> None: ...


@dataclass(frozen=True, slots=True)
class Generation:
    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    stop: list[str] = field(default_factory=list)
    seed: int | None = None
    json_mode: bool = False

    def request(
        self,
        target: str,
        messages: list[ChatMessage],
        tools: list[ToolSpec] | None = None,
        tool_choice: str | dict[str, Any] | None = None,
    ) -> ChatRequest:
        """The provider-neutral request for these parameters."""
        return ChatRequest(
            target=target,
            messages=messages,
            temperature=self.temperature,
            top_p=self.top_p,
            max_tokens=self.max_tokens,
            stop=list(self.stop),
            seed=self.seed,
            json_mode=self.json_mode,
            tools=tools,
            tool_choice=tool_choice,
        )


@dataclass(slots=True)
class TurnPlan:
    conversation: Conversation
    agent: Agent | None
    model: str
    route: Route
    request: ChatRequest
    user_message: Message
    assistant_id: str = field(default_factory=new_id)
    started: float = field(default_factory=time.perf_counter)


def estimate_tokens(text: str) -> int:
    return math.ceil(len(text) / 3) + 4


def fit_history(history: Sequence[ChatMessage], budget: int) -> list[ChatMessage]:
    kept: list[ChatMessage] = []
    for message in reversed(history):
        cost = estimate_tokens(message.content or "")
        if cost > budget:
            break
        budget -= cost
        kept.append(message)
    kept.reverse()
    while kept and kept[0].role == "assistant":  # start the window on a user turn
        kept.pop(0)
    return kept


def fit_exactly(
    provider: object,
    build: Callable[[list[ChatMessage]], ChatRequest],
    history: list[ChatMessage],
    limit: int,
) -> ChatRequest:
    """`build(history)`, dropping the oldest turns while the provider counts more than
    `limit` tokens (the estimate of `fit_history` can be short for dense text)."""
    request = build(history)
    if not isinstance(provider, CountsTokens):
        return request
    while history and (provider.count_prompt_tokens(request) or 0) > limit:
        history = history[1:]
        while history and history[0].role == "assistant":
            history = history[1:]
        request = build(history)
    return request


class ConversationChat:
    def __init__(
        self,
        conversations: ConversationService,
        registry: ModelRegistry,
        memory: MemoryProvider | None,
    ) -> None:
        self.conversations = conversations
        self.registry = registry
        self.memory = memory
        self._writes: set[asyncio.Task[None]] = set()

    async def memory_context(self, principal: Principal, text: str) -> str:
        if self.memory is None:
            return ""
        return await self.memory.context_for(principal, text)

    async def plan(
        self,
        principal: Principal,
        conversation: Conversation,
        content: str,
        *,
        agent: Agent | None,
        model: str,
        generation: Generation,
        system: str | None = None,
    ) -> TurnPlan:
        route = self.registry.route(model)
        stored = await self.conversations.messages(principal, conversation.id)
        system_parts = [p for p in (agent.system_prompt if agent else system,) if p]
        memory_on = agent.memory if agent is not None else conversation.memory
        if memory_on:
            remembered = await self.memory_context(principal, content)
            if remembered:
                system_parts.append(remembered)
        system_messages = [ChatMessage(role="system", content="\n\n".join(system_parts))]
        system_messages = system_messages if system_parts else []
        new_turn = ChatMessage(role="user", content=content)
        context = route.model.context_size or DEFAULT_CONTEXT
        reserve = generation.max_tokens or DEFAULT_RESERVE
        used = sum(estimate_tokens(m.content or "") for m in [*system_messages, new_turn])
        history = fit_history(
            [ChatMessage(role=m.role, content=m.content) for m in stored if m.role != "system"],
            max(0, int(context * 0.9) - reserve - used),
        )
        request = fit_exactly(
            route.provider,
            lambda kept: generation.request(route.target, [*system_messages, *kept, new_turn]),
            history,
            context - reserve,
        )
        user_message = await self.conversations.add(
            Message(
                conversation_id=conversation.id,
                org_id=principal.org_id,
                user_id=principal.user_id,
                role="user",
                content=content,
            )
        )
        return TurnPlan(conversation, agent, route.model.name, route, request, user_message)

    def _assistant(
        self, plan: TurnPlan, content: str, finish: str, result: ChatResult | None
    ) -> Message:
        snapshot = {
            "model": plan.model,
            "backend": plan.route.provider.name,
            "target": plan.route.target,
            "messages": [m.model_dump(exclude_none=True) for m in plan.request.messages],
        }
        return Message(
            id=plan.assistant_id,
            conversation_id=plan.conversation.id,
            org_id=plan.conversation.org_id,
            user_id=plan.conversation.user_id,
            role="assistant",
            content=content,
            model=plan.model,
            agent_id=plan.agent.id if plan.agent else None,
            backend=plan.route.provider.name,
            finish_reason=finish,
            prompt_tokens=result.usage.prompt_tokens if result else None,
            completion_tokens=result.usage.completion_tokens if result else None,
            latency_ms=int((time.perf_counter() - plan.started) * 1000),
            prompt=orjson.dumps(snapshot).decode(),
        )

    async def finish(self, principal: Principal, plan: TurnPlan, result: ChatResult) -> Message:
        message = self._assistant(plan, result.content, result.finish_reason, result)
        await self._store(principal, plan, message)
        return message

    async def finish_failed(self, principal: Principal, plan: TurnPlan, error: UAITError) -> None:
        """The backend failed before answering: keep a record of the attempt."""
        await self._store(principal, plan, self._assistant(plan, "", "error", None))

    async def _store(self, principal: Principal, plan: TurnPlan, message: Message) -> None:
        """Store the answer exactly once, even if the request is being cancelled."""
        task = asyncio.get_running_loop().create_task(self._write(principal, plan, message))
        self._writes.add(task)
        task.add_done_callback(self._writes.discard)
        await asyncio.shield(task)

    async def _write(self, principal: Principal, plan: TurnPlan, message: Message) -> None:
        await self.conversations.add(message, title_from_text=plan.user_message.content)
        if self.memory is not None:
            await self.memory.after_turn(principal, plan.user_message.content, plan.user_message.id)

    async def stream(
        self, principal: Principal, plan: TurnPlan, deltas: AsyncIterator[ChatDelta]
    ) -> AsyncIterator[ChatDelta]:
        """Pass the answer through; store it when it ends, however it ends: finished,
        failed (`error`) or abandoned by the client (`cancelled`)."""
        parts: list[str] = []
        finish = "cancelled"
        result: ChatResult | None = None
        try:
            async for delta in deltas:
                parts.append(delta.content)
                if delta.finish_reason is not None and delta.usage is not None:
                    finish = delta.finish_reason
                    result = ChatResult("".join(parts), delta.finish_reason, delta.usage)
                yield delta
        except UAITError:
            finish = "error"
            raise
        finally:
            await self._store(
                principal, plan, self._assistant(plan, "".join(parts), finish, result)
            )
