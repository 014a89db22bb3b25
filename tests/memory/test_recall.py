"""Recall for chat turns (`relevant`), remembering from a turn, and the system context."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.memory.conftest import User, World
from universal_ai_tools.db.types import utcnow
from universal_ai_tools.errors import BadRequest, Forbidden
from universal_ai_tools.memory.scoring import estimate_tokens, recency_bonus
from universal_ai_tools.memory.service import MemoryService, as_system_context

FACTS = (
    "The user's favourite colour is teal",
    "The user lives in Berlin",
    "The user works at Acme Corp",
    "The user is allergic to peanuts",
    "The user likes jazz music",
)
QUESTION = "What is my favourite colour?"


async def _add_facts(world: World, user: User) -> None:
    for fact in FACTS:
        await world.memory.add(user.principal, fact)


async def test_relevant_picks_the_right_memory(world: World, owner: User) -> None:
    await _add_facts(world, owner)
    recalled = await world.memory.relevant(owner.principal, QUESTION)
    assert recalled and recalled[0].content == FACTS[0]
    assert (await world.memory.relevant(owner.principal, "Where do I live?"))[0].content == (
        FACTS[1]
    )
    snack = await world.memory.relevant(owner.principal, "Can you suggest a snack for me?")
    assert snack[0].content == FACTS[3]
    # Nothing unrelated is pushed into a conversation about something else.
    assert await world.memory.relevant(owner.principal, "Tell me a joke about cats") == []
    assert await world.memory.relevant(owner.principal, "   ") == []


async def test_relevant_respects_the_budget_and_the_limit(world: World, owner: User) -> None:
    await _add_facts(world, owner)
    cost = estimate_tokens(FACTS[0])
    assert cost == len(FACTS[0]) // 4 + 1
    exact = await world.memory.relevant(owner.principal, QUESTION, token_budget=cost)
    assert [m.content for m in exact] == [FACTS[0]]
    assert await world.memory.relevant(owner.principal, QUESTION, token_budget=cost - 1) == []
    query = "Describe the user: home, job, favourite colour, allergies, music"
    everything = await world.memory.relevant(owner.principal, query, limit=10, token_budget=1000)
    assert sorted(m.content for m in everything) == sorted(FACTS)
    small = await world.memory.relevant(owner.principal, query, limit=10, token_budget=20)
    assert sum(estimate_tokens(m.content) for m in small) <= 20 and len(small) < len(everything)
    assert [m.id for m in small] == [m.id for m in everything[: len(small)]]
    assert len(await world.memory.relevant(owner.principal, query, limit=1)) == 1


async def test_deleted_memories_are_never_recalled(world: World, owner: User) -> None:
    await _add_facts(world, owner)
    teal = (await world.memory.relevant(owner.principal, QUESTION))[0]
    response = await world.http.delete(f"/memories/{teal.id}", headers=owner.headers)
    assert response.status_code == 204
    recalled = await world.memory.relevant(owner.principal, QUESTION, limit=10, token_budget=1000)
    assert teal.id not in {m.id for m in recalled}
    assert all("teal" not in m.content for m in recalled)
    searched = await world.memory.search(owner.principal, "teal colour", limit=10)
    assert teal.id not in {s.memory.id for s in searched}


async def test_remember_from_turn(world: World, owner: User) -> None:
    made = await world.memory.remember_from_turn(
        owner.principal, "Remember that my favourite colour is teal. Thanks!", "msg-1"
    )
    assert [(m.content, m.source_message_id) for m in made] == [
        ("The user's favourite colour is teal", "msg-1")
    ]
    made = await world.memory.remember_from_turn(
        owner.principal, "Hi, my name is Alice and I live in Berlin.", "msg-2"
    )
    assert sorted(m.content for m in made) == [
        "The user lives in Berlin",
        "The user's name is Alice",
    ]
    for question in ("What is my name?", "Do I live in Berlin?", "where do I work"):
        assert await world.memory.remember_from_turn(owner.principal, question, "msg-3") == []
    # Saying it again rewords the same memory instead of adding one.
    again = await world.memory.remember_from_turn(
        owner.principal, "Please remember: my favorite color is teal!", "msg-4"
    )
    assert len(again) == 1 and again[0].source_message_id == "msg-4"
    contents = [m.content for m in await world.memory.list(owner.principal)]
    assert len(contents) == 3 and "The user's favorite color is teal" in contents
    recalled = await world.memory.relevant(owner.principal, QUESTION)
    assert recalled[0].content == "The user's favorite color is teal"


async def test_as_system_context(world: World, owner: User) -> None:
    assert as_system_context([]) == ""
    first = await world.memory.add(owner.principal, "The user lives in Berlin")
    second = await world.memory.add(owner.principal, "The user likes\njazz")
    assert as_system_context([first, second]) == (
        "Known facts about the user:\n- The user lives in Berlin\n- The user likes jazz"
    )


async def test_service_validates_and_checks_the_role(world: World, owner: User) -> None:
    for content in ("", "  ", "z" * 2001):
        with pytest.raises(BadRequest):
            await world.memory.add(owner.principal, content)
    viewer = await world.new_user(owner, "viewer@example.com", role="viewer")
    with pytest.raises(Forbidden):
        await world.memory.add(viewer.principal, "I like tea")


async def test_works_without_an_embedding_model(world: World, owner: User) -> None:
    """With no embedder, similarity falls back to shared words: still merged and found."""
    service = MemoryService(world.app.state.sessions, None)
    first = await service.add(owner.principal, "The user's favourite colour is teal")
    again = await service.add(owner.principal, "the user's favourite colour is TEAL.")
    assert again.id == first.id and again.content == "the user's favourite colour is TEAL."
    await service.add(owner.principal, "The user lives in Berlin")
    assert len(await service.list(owner.principal)) == 2
    recalled = await service.relevant(owner.principal, "what is my favourite colour")
    assert [m.id for m in recalled] == [first.id]
    assert (await service.search(owner.principal, "Berlin"))[0].memory.content == (
        "The user lives in Berlin"
    )


def test_recency_bonus_formula() -> None:
    now = utcnow()
    assert recency_bonus(now, now) == pytest.approx(0.05)
    assert recency_bonus(now - timedelta(days=30), now) == pytest.approx(0.025)
    assert recency_bonus(now - timedelta(days=365), now) < 0.001
    assert recency_bonus(now + timedelta(days=1), now) == pytest.approx(0.05)
