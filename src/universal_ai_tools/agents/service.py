"""Agents are shared within an organization: members create them, their owner or an
admin changes or deletes them, everyone in the organization can use them."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from universal_ai_tools.agents.models import Agent
from universal_ai_tools.auth.principal import Principal
from universal_ai_tools.auth.users import require
from universal_ai_tools.db.types import utcnow
from universal_ai_tools.errors import BadRequest, Conflict, Forbidden, NotFound
from universal_ai_tools.llm.routing import ModelRegistry

AGENT_PREFIX = "agent:"


@dataclass(frozen=True, slots=True)
class AgentFields:
    name: str | None = None
    description: str | None = None
    system_prompt: str | None = None
    model: str | None = None
    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    tools: list[str] | None = None
    memory: bool | None = None


class AgentService:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], registry: ModelRegistry) -> None:
        self.sessions = sessions
        self.registry = registry

    def _check_model(self, model: str) -> None:
        if not self.registry.has(model):
            raise BadRequest(f"unknown model {model!r} for the agent")
        if self.registry.lookup(model).kind != "chat":
            raise BadRequest(f"model {model!r} is not a chat model")

    async def create(self, actor: Principal, fields: AgentFields) -> Agent:
        require(actor, "member")
        assert fields.name and fields.system_prompt is not None and fields.model
        self._check_model(fields.model)
        agent = Agent(
            org_id=actor.org_id,
            owner_id=actor.user_id,
            name=fields.name,
            description=fields.description or "",
            system_prompt=fields.system_prompt,
            model=fields.model,
            temperature=fields.temperature,
            top_p=fields.top_p,
            max_tokens=fields.max_tokens,
            tools=fields.tools or [],
            memory=bool(fields.memory),
        )
        try:
            async with self.sessions.begin() as session:
                session.add(agent)
        except IntegrityError:
            raise Conflict(f"an agent named {fields.name!r} already exists") from None
        return agent

    async def list(self, actor: Principal) -> list[Agent]:
        statement = select(Agent).where(Agent.org_id == actor.org_id).order_by(Agent.name)
        async with self.sessions() as session:
            return list((await session.scalars(statement)).all())

    async def get(self, actor: Principal, agent_id: str) -> Agent:
        async with self.sessions() as session:
            agent = await session.get(Agent, agent_id)
        if agent is None or agent.org_id != actor.org_id:
            raise NotFound("agent not found")
        return agent

    async def by_name(self, actor: Principal, name: str) -> Agent:
        async with self.sessions() as session:
            agent = await session.scalar(
                select(Agent).where(Agent.org_id == actor.org_id, Agent.name == name)
            )
        if agent is None:
            raise NotFound(f"agent {name!r} not found", code="model_not_found")
        return agent

    def _may_change(self, actor: Principal, agent: Agent) -> None:
        if agent.owner_id != actor.user_id and not actor.at_least("admin"):
            raise Forbidden("only the agent's owner or an admin may change it")

    async def update(self, actor: Principal, agent_id: str, fields: AgentFields) -> Agent:
        require(actor, "member")
        if fields.model is not None:
            self._check_model(fields.model)
        try:
            async with self.sessions.begin() as session:
                agent = await session.get(Agent, agent_id)
                if agent is None or agent.org_id != actor.org_id:
                    raise NotFound("agent not found")
                self._may_change(actor, agent)
                for name in AgentFields.__dataclass_fields__:
                    value = getattr(fields, name)
                    if value is not None:
                        setattr(agent, name, value)
                agent.updated_at = utcnow()
        except IntegrityError:
            raise Conflict(f"an agent named {fields.name!r} already exists") from None
        return agent

    async def delete(self, actor: Principal, agent_id: str) -> None:
        require(actor, "member")
        async with self.sessions.begin() as session:
            agent = await session.get(Agent, agent_id)
            if agent is None or agent.org_id != actor.org_id:
                raise NotFound("agent not found")
            self._may_change(actor, agent)
            await session.delete(agent)
