"""`/memories` over HTTP: create, read, list, search, reword, delete, merge, bad input."""

from __future__ import annotations

from datetime import datetime

import pytest

from tests.memory.conftest import User, World, assert_error

FIELDS = {"id", "content", "source_message_id", "created_at", "updated_at"}


async def test_crud(world: World, owner: User) -> None:
    created = await world.remember(owner, "  I live in Berlin  ")
    assert set(created) == FIELDS
    assert created["content"] == "I live in Berlin"
    assert created["source_message_id"] is None
    memory_id = created["id"]

    got = await world.http.get(f"/memories/{memory_id}", headers=owner.headers)
    assert got.status_code == 200 and got.json() == created

    listed = await world.memories(owner)
    assert listed == {"data": [created], "has_more": False}

    patched = await world.http.patch(
        f"/memories/{memory_id}", json={"content": "I live in Hamburg"}, headers=owner.headers
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["content"] == "I live in Hamburg"
    assert patched.json()["created_at"] == created["created_at"]
    assert patched.json()["updated_at"] > created["updated_at"]
    found = await world.memories(owner, q="Which city is my home?")
    assert found["data"][0]["content"] == "I live in Hamburg"

    deleted = await world.http.delete(f"/memories/{memory_id}", headers=owner.headers)
    assert deleted.status_code == 204 and deleted.content == b""
    for method in ("GET", "PATCH", "DELETE"):
        again = await world.http.request(
            method, f"/memories/{memory_id}", json={"content": "x"}, headers=owner.headers
        )
        assert_error(again, 404)
    assert (await world.memories(owner))["data"] == []


async def test_unknown_fields_are_ignored(world: World, owner: User) -> None:
    created = await world.remember_raw(owner, {"content": "I like tea", "user_id": "x", "a": 1})
    assert created.status_code == 201, created.text
    assert set(created.json()) == FIELDS


async def test_duplicates_merge_and_the_newer_wording_wins(world: World, owner: User) -> None:
    first = await world.remember(owner, "My favourite colour is teal")
    second = await world.remember(owner, "my favorite color is teal!")
    assert second["id"] == first["id"]
    assert second["content"] == "my favorite color is teal!"
    assert second["created_at"] == first["created_at"]
    assert datetime.fromisoformat(second["updated_at"]) > datetime.fromisoformat(
        first["updated_at"]
    )
    listed = await world.memories(owner)
    assert [m["id"] for m in listed["data"]] == [first["id"]]
    # Different facts of the same kind stay apart.
    await world.remember(owner, "My favourite food is sushi")
    assert len((await world.memories(owner))["data"]) == 2


async def test_search_ranks_the_relevant_memory_first(world: World, owner: User) -> None:
    for fact in (
        "I live in Berlin",
        "I work at Acme Corp as an engineer",
        "My favourite colour is teal",
        "I am allergic to peanuts",
        "I play the guitar in a band",
    ):
        await world.remember(owner, fact)
    for query, expected in (
        ("what colour do I like best", "My favourite colour is teal"),
        ("food allergies", "I am allergic to peanuts"),
        ("musical instrument", "I play the guitar in a band"),
    ):
        page = await world.memories(owner, q=query)
        assert page["data"][0]["content"] == expected, (query, page)
        scores = [item["score"] for item in page["data"]]
        assert scores == sorted(scores, reverse=True)
        assert all(set(item) == FIELDS | {"score"} for item in page["data"])
    plain = await world.memories(owner)
    assert all(set(item) == FIELDS for item in plain["data"])


async def test_list_is_newest_first_and_pages(world: World, owner: User) -> None:
    facts = ["I live in Oslo", "I work for the city council", "I like jazz", "I have two cats"]
    for fact in facts:
        await world.remember(owner, fact)
    page = await world.memories(owner, limit="3")
    assert [m["content"] for m in page["data"]] == facts[::-1][:3]
    assert page["has_more"] is True
    rest = await world.memories(owner, limit="3", offset="3")
    assert [m["content"] for m in rest["data"]] == [facts[0]] and rest["has_more"] is False
    searched = await world.memories(owner, q="pets", limit="1")
    assert searched["data"][0]["content"] == "I have two cats" and searched["has_more"] is True


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"content": ""}, "empty"),
        ({"content": "   \n\t "}, "empty"),
        ({"content": "x" * 2001}, "too long"),
        ({"content": "x" * 1_000_000}, "too long"),
        ({"content": 123}, "content"),
        ({"content": None}, "content"),
        ({"content": ["a fact"]}, "content"),
        ({}, "content"),
    ],
)
async def test_bad_input_is_400(world: World, owner: User, body: object, words: str) -> None:
    created = await world.remember(owner, "I like tea")
    for method, path in (("POST", "/memories"), ("PATCH", f"/memories/{created['id']}")):
        response = await world.http.request(method, path, json=body, headers=owner.headers)
        assert words in assert_error(response, 400).lower(), response.text
        assert response.json()["error"]["type"] == "invalid_request_error"
    assert [m["content"] for m in (await world.memories(owner))["data"]] == ["I like tea"]


async def test_malformed_bodies_and_queries_are_400(world: World, owner: User) -> None:
    for content in (b"", b"{not json", b"[1, 2]"):
        response = await world.http.post("/memories", content=content, headers=owner.headers)
        assert_error(response, 400)
    for params in ({"limit": "0"}, {"limit": "abc"}, {"offset": "-1"}, {"q": "x" * 2001}):
        response = await world.http.get("/memories", params=params, headers=owner.headers)
        assert_error(response, 400)


async def test_the_2000_character_limit_is_inclusive(world: World, owner: User) -> None:
    created = await world.remember(owner, "y" * 2000 + "   ")
    assert len(created["content"]) == 2000


async def test_viewers_read_their_own_but_do_not_write(world: World, owner: User) -> None:
    viewer = await world.new_user(owner, "viewer@example.com", role="viewer")
    assert (await world.memories(viewer)) == {"data": [], "has_more": False}
    response = await world.http.post(
        "/memories", json={"content": "I like tea"}, headers=viewer.headers
    )
    assert_error(response, 403)
    assert await world.memory.remember_from_turn(viewer.principal, "My name is Vera", "m1") == []


async def test_anonymous_requests_are_401(world: World) -> None:
    for method, path in (("GET", "/memories"), ("POST", "/memories"), ("GET", "/memories/x")):
        response = await world.http.request(method, path, json={"content": "x"})
        assert_error(response, 401)


async def test_documented_in_the_openapi_schema(world: World, owner: User) -> None:
    response = await world.http.get("/openapi.json", headers=owner.headers)
    assert response.status_code == 200, response.text
    paths = response.json()["paths"]
    assert set(paths["/memories"]) == {"get", "post"}
    assert set(paths["/memories/{memory_id}"]) == {"get", "patch", "delete"}
    body = paths["/memories"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert "content" in body["properties"]
