"""The context window: the oldest turns are dropped so that the prompt fits. A small
context (512 tokens) keeps these tests quick."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import SettingsFactory
from tests.conversations.test_conversations import new_conversation, turn
from universal_ai_tools.settings import Settings


@pytest.fixture
def settings(make_settings: SettingsFactory) -> Settings:
    return make_settings(embedded={"threads": 1, "context_size": 512})


async def test_long_conversation_is_trimmed_to_the_window(client: httpx.AsyncClient) -> None:
    conversation = await new_conversation(client)
    filler = "This is a long story about the sea and its waves. " * 8  # ~400 chars
    for index in range(5):
        await turn(client, conversation, f"Part {index}: {filler}")
    last = await turn(client, conversation, "Summarize in one word.")
    prompt = (
        await client.get(f"/conversations/{conversation}/messages/{last['message']['id']}/prompt")
    ).json()
    contents = [m["content"] for m in prompt["messages"]]
    assert contents[-1] == "Summarize in one word."
    assert len(prompt["messages"]) < 11  # older turns were dropped
    assert prompt["messages"][0]["role"] == "user"
    assert last["message"]["finish_reason"] in ("stop", "length")


async def test_dense_history_is_trimmed_by_the_real_token_count(
    client: httpx.AsyncClient,
) -> None:
    """Digits and commas are a token a character: three times the estimate. The turn
    still fits, because the embedded model counts the real prompt."""
    conversation = await new_conversation(client)
    await turn(client, conversation, "7," * 130)  # 260 tokens, estimated 91
    last = await turn(client, conversation, "8," * 130)
    prompt = (
        await client.get(f"/conversations/{conversation}/messages/{last['message']['id']}/prompt")
    ).json()
    assert [m["content"] for m in prompt["messages"]] == ["8," * 130]  # the first turn dropped
