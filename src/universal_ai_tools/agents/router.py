"""`/agents`: create, list, change and delete agents, and chat with one."""

from __future__ import annotations

from fastapi import APIRouter, status
from starlette.requests import Request
from starlette.responses import Response

from universal_ai_tools.agents.schemas import AgentCreate, AgentOut, AgentUpdate
from universal_ai_tools.agents.service import AgentFields
from universal_ai_tools.auth.deps import IdentityDep, MemberDep, PrincipalDep
from universal_ai_tools.conversations.schemas import AgentTurnRequest
from universal_ai_tools.conversations.turns import (
    ConversationsDep,
    TurnContext,
    generation_for,
    start_turn,
    turn_response,
)
from universal_ai_tools.errors import NotFound
from universal_ai_tools.llm.completion import CacheDep
from universal_ai_tools.llm.deps import RegistryDep

router = APIRouter(prefix="/agents", tags=["agents"])


def _out(agent: object) -> AgentOut:
    return AgentOut.model_validate(agent, from_attributes=True)


@router.post("", response_model=AgentOut, status_code=status.HTTP_201_CREATED)
async def create(body: AgentCreate, principal: MemberDep, feature: ConversationsDep) -> AgentOut:
    return _out(await feature.agents.create(principal, AgentFields(**body.model_dump())))


@router.get("")
async def list_agents(
    principal: PrincipalDep, feature: ConversationsDep
) -> dict[str, list[AgentOut]]:
    return {"data": [_out(a) for a in await feature.agents.list(principal)]}


@router.get("/{agent_id}", response_model=AgentOut)
async def get(agent_id: str, principal: PrincipalDep, feature: ConversationsDep) -> AgentOut:
    return _out(await feature.agents.get(principal, agent_id))


@router.patch("/{agent_id}", response_model=AgentOut)
async def update(
    agent_id: str, body: AgentUpdate, principal: MemberDep, feature: ConversationsDep
) -> AgentOut:
    fields = AgentFields(**body.model_dump(exclude_unset=True))
    return _out(await feature.agents.update(principal, agent_id, fields))


@router.delete("/{agent_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete(agent_id: str, principal: MemberDep, feature: ConversationsDep) -> Response:
    await feature.agents.delete(principal, agent_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/{agent_id}/chat")
async def chat(
    agent_id: str,
    body: AgentTurnRequest,
    request: Request,
    principal: MemberDep,
    identity: IdentityDep,
    registry: RegistryDep,
    cache: CacheDep,
    feature: ConversationsDep,
) -> Response:
    """Chat with the agent, in a new conversation or (with `conversation_id`) an existing one."""
    agent = await feature.agents.get(principal, agent_id)
    if body.conversation_id is not None:
        conversation = await feature.conversations.get(principal, body.conversation_id)
        if conversation.agent_id not in (None, agent.id):
            raise NotFound("this conversation belongs to another agent")
    else:
        conversation = await feature.conversations.create(
            principal, agent_id=agent.id, model=agent.model, memory=agent.memory
        )
    ctx = TurnContext(request, principal, identity, registry, cache, feature)
    plan = await start_turn(
        ctx,
        conversation,
        body.content,
        agent=agent,
        model=body.model or agent.model,
        generation=generation_for(body, agent),
    )
    return await turn_response(ctx, plan, body.stream)
