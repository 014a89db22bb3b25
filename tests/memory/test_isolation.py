"""Nobody but the owner of a memory can see, search, edit, delete or recall it."""

from __future__ import annotations

import pytest

from tests.memory.conftest import User, World, assert_error
from universal_ai_tools.errors import NotFound


async def _check_cannot_reach(world: World, intruder: User, memory_id: str) -> None:
    for method, body in (("GET", None), ("PATCH", {"content": "I hate teal"}), ("DELETE", None)):
        response = await world.http.request(
            method, f"/memories/{memory_id}", json=body, headers=intruder.headers
        )
        assert_error(response, 404)
    assert await world.memories(intruder) == {"data": [], "has_more": False}
    assert (await world.memories(intruder, q="favourite colour"))["data"] == []
    question = "What is my favourite colour?"
    assert await world.memory.relevant(intruder.principal, question) == []
    assert (await world.memory.search(intruder.principal, "teal")) == []


async def test_other_users_of_the_same_org_and_of_another_org_get_404(
    world: World, owner: User
) -> None:
    mine = await world.remember(owner, "My favourite colour is teal")
    colleague = await world.new_user(owner, "colleague@example.com")
    admin = await world.new_user(owner, "admin@example.com", role="admin")
    stranger = await world.new_org_owner(owner, "Other Org", "stranger@example.com")
    assert stranger.principal.org_id != owner.principal.org_id

    for intruder in (colleague, admin, stranger):
        await _check_cannot_reach(world, intruder, mine["id"])

    # The same words remembered by someone else make their own memory: no merge across users.
    theirs = await world.remember(colleague, "My favourite colour is teal")
    assert theirs["id"] != mine["id"]
    assert [m["id"] for m in (await world.memories(colleague))["data"]] == [theirs["id"]]

    # Untouched for its owner.
    got = await world.http.get(f"/memories/{mine['id']}", headers=owner.headers)
    assert got.status_code == 200 and got.json() == mine
    assert [m["id"] for m in (await world.memories(owner))["data"]] == [mine["id"]]
    recalled = await world.memory.relevant(owner.principal, "What is my favourite colour?")
    assert [m.id for m in recalled] == [mine["id"]]


async def test_service_calls_with_another_users_id_are_not_found(world: World, owner: User) -> None:
    mine = await world.memory.add(owner.principal, "I live in Berlin")
    stranger = await world.new_org_owner(owner, "Elsewhere", "else@example.com")
    for call in (
        world.memory.get(stranger.principal, mine.id),
        world.memory.update(stranger.principal, mine.id, "I live in Rome"),
        world.memory.delete(stranger.principal, mine.id),
    ):
        with pytest.raises(NotFound):
            await call
    assert (await world.memory.get(owner.principal, mine.id)).content == "I live in Berlin"
