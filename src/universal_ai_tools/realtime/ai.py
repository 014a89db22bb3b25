"""Shared AI sessions: agents that are room members answer in the room, live.

A message that mentions `@agent-name` (or any message, in a room with an auto-reply
agent) starts a generation: `agent.status` and `ai.start`, then `ai.delta` tokens to
every member, then `ai.done` with the stored message. Any member can cancel it. An
agent's answer that mentions another agent of the room hands off to it, up to
`max_agent_turns` consecutive agent answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from dataclasses import dataclass

from universal_ai_tools.agents.models import Agent
from universal_ai_tools.agents.service import AgentService
from universal_ai_tools.auth.principal import Principal
from universal_ai_tools.db.types import new_id
from universal_ai_tools.errors import UAITError
from universal_ai_tools.llm.routing import ModelRegistry
from universal_ai_tools.llm.types import ChatMessage, ChatRequest
from universal_ai_tools.realtime.bus import Event, EventBus, room_channel
from universal_ai_tools.realtime.journal import AgentLink, Posted
from universal_ai_tools.realtime.rooms import RoomService, message_event
from universal_ai_tools.settings import RealtimeSettings

MENTION = re.compile(r"@([A-Za-z0-9][A-Za-z0-9_.-]*)")


@dataclass
class Generation:
    id: str
    room: str
    agent: Agent
    task: asyncio.Task[None] | None = None


class AgentSessions:
    def __init__(
        self,
        rooms: RoomService,
        agents: AgentService,
        registry: ModelRegistry,
        bus: EventBus,
        settings: RealtimeSettings,
    ) -> None:
        self.rooms = rooms
        self.agents = agents
        self.registry = registry
        self.bus = bus
        self.settings = settings
        self._running: dict[str, Generation] = {}

    async def _resolve(
        self, principal: Principal, links: tuple[AgentLink, ...]
    ) -> list[tuple[Agent, bool]]:
        found = []
        for link in links:
            with contextlib.suppress(UAITError):  # an agent deleted since: not a member now
                found.append((await self.agents.get(principal, link.agent_id), link.auto_reply))
        return found

    async def on_message(self, principal: Principal, posted: Posted) -> None:
        """After a member's message: start the agents it calls for. `posted.agents` are
        the room's agents read in the message's own transaction, so a room without
        agents costs nothing more."""
        called = {name.lower() for name in MENTION.findall(posted.message.content)}
        if not any(link.auto_reply for link in posted.agents) and not called:
            return
        room = posted.message.room_id
        for agent, auto in await self._resolve(principal, posted.agents):
            if agent.name.lower() in called or auto:
                self._start(principal, room, agent, turns=1)

    def _start(self, principal: Principal, room: str, agent: Agent, turns: int) -> Generation:
        generation = Generation(id=new_id(), room=room, agent=agent)
        generation.task = asyncio.get_running_loop().create_task(
            self._run(principal, generation, turns)
        )
        self._running[generation.id] = generation

        async def on_cancel(event: Event) -> None:
            if event.get("type") == "ai.cancel" and event.get("generation_id") == generation.id:
                self._cancel_local(generation.id)

        self.bus.subscribe(room_channel(room), on_cancel)

        def finished(_: object) -> None:
            self._running.pop(generation.id, None)
            self.bus.unsubscribe(room_channel(room), on_cancel)

        generation.task.add_done_callback(finished)
        return generation

    def _cancel_local(self, generation_id: str) -> None:
        generation = self._running.get(generation_id)
        if generation is not None and generation.task is not None:
            generation.task.cancel()

    async def cancel(self, room: str, generation_id: str) -> None:
        """Stop a generation, whichever instance runs it (the request goes over the bus)."""
        await self._publish(room, {"type": "ai.cancel", "generation_id": generation_id})

    async def _publish(self, room: str, event: dict[str, object]) -> None:
        await self.bus.publish(room_channel(room), {"room": room, **event})

    async def _status(self, generation: Generation, status: str) -> None:
        await self._publish(
            generation.room,
            {"type": "agent.status", "agent_id": generation.agent.id, "status": status},
        )

    async def _context(self, generation: Generation) -> list[ChatMessage]:
        recent = await self.rooms.history_for_agent(
            generation.room, self.settings.agent_context_messages
        )
        messages = [ChatMessage(role="system", content=generation.agent.system_prompt)]
        for message in recent:
            if message.agent_id == generation.agent.id:
                messages.append(ChatMessage(role="assistant", content=message.content))
            else:
                messages.append(ChatMessage(role="user", content=message.content))
        return messages

    async def _run(self, principal: Principal, generation: Generation, turns: int) -> None:
        agent = generation.agent
        ids = {"agent_id": agent.id, "generation_id": generation.id}
        parts: list[str] = []
        cancelled = False
        await self._status(generation, "thinking")
        try:
            route = self.registry.route(agent.model)
            request = ChatRequest(
                target=route.target,
                messages=await self._context(generation),
                temperature=agent.temperature,
                top_p=agent.top_p,
                max_tokens=agent.max_tokens or 256,
            )
            await self._publish(generation.room, {"type": "ai.start", **ids})
            await self._status(generation, "generating")
            async for delta in route.provider.stream_chat(request):
                if delta.content:
                    parts.append(delta.content)
                    await self._publish(
                        generation.room, {"type": "ai.delta", **ids, "delta": delta.content}
                    )
        except asyncio.CancelledError:
            cancelled = True
        except UAITError as exc:
            await self._publish(
                generation.room, {"type": "ai.error", **ids, "message": exc.message}
            )
            await self._status(generation, "error")
            return
        answer = "".join(parts)
        posted = await asyncio.shield(
            self.rooms.post(generation.room, answer or "…", agent_id=agent.id)
        )
        done = {"type": "ai.done", **ids, "message": message_event(posted.message)}
        await self._publish(generation.room, {**done, "cancelled": cancelled})
        await self._status(generation, "idle")
        if not cancelled and turns < self.settings.max_agent_turns:
            await self._hand_off(principal, generation, posted, turns)

    async def _hand_off(
        self, principal: Principal, generation: Generation, answer: Posted, turns: int
    ) -> None:
        called = {name.lower() for name in MENTION.findall(answer.message.content)}
        if not called:
            return
        for agent, _ in await self._resolve(principal, answer.agents):
            if agent.id != generation.agent.id and agent.name.lower() in called:
                self._start(principal, generation.room, agent, turns=turns + 1)

    async def close(self) -> None:
        for generation in list(self._running.values()):
            if generation.task is not None:
                generation.task.cancel()
