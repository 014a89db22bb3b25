"""Done-when 7: `model: "auto"` sends short greetings to the small tier and multi-step
coding or math to the strong tier, explains the choice in `X-UAIT-Route`, and reaches
the bar on the labelled set that `make bench` reports on (bench/routing.py)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.routing.conftest import StartUpstream, Upstream, backend, chat, client, model
from tests.servers import LiveServer
from universal_ai_tools.llm.auto import Assessment, assess, choose
from universal_ai_tools.llm.types import ChatMessage
from universal_ai_tools.settings import ModelConfig

Routed = Callable[..., LiveServer]
DATA = Path(__file__).resolve().parents[2] / "bench" / "data" / "routing.jsonl"

# None of these is in the labelled set.
PROMPTS = [
    ("hey, how's it going?", "small"),
    ("thanks a lot!", "small"),
    ("What is the capital of Canada?", "small"),
    ("Write a Python function that merges two sorted lists.", "medium"),
    ("Explain how a bicycle gear system works.", "medium"),
    (
        "Implement a thread-safe LRU cache in Go, explain the locking strategy, "
        "then analyze the complexity of each operation.",
        "strong",
    ),
    ("Derive the gradient of the logistic regression loss and show each step.", "strong"),
    ("Prove that the square of an odd number is odd, then generalize it.", "strong"),
]
TARGETS = {"small": "tiny-1b", "medium": "mid-8b", "strong": "big-70b"}


@pytest.fixture
def three_tiers(routed: Routed, upstream: StartUpstream) -> tuple[LiveServer, Upstream]:
    up = upstream("openai")
    server = routed(
        backend("up", up)
        + model("tiny", backend="up", target="tiny-1b", tier="small")
        + model("mid", backend="up", target="mid-8b", tier="medium")
        + model("big", backend="up", target="big-70b", tier="strong")
    )
    return server, up


async def test_auto_picks_the_tier_and_says_why(
    three_tiers: tuple[LiveServer, Upstream],
) -> None:
    server, up = three_tiers
    async with client(server) as http:
        listed = (await http.get("/v1/models")).json()["data"]
        auto_card = next(card for card in listed if card["id"] == "auto")
        assert auto_card["uait"] == {"tier": "auto", "aliases": [], "deployments": []}
        for prompt, tier in PROMPTS:
            answer = await http.post("/v1/chat/completions", json=chat("auto", prompt))
            assert answer.status_code == 200, answer.text
            assert answer.json()["model"] == "auto"
            route = answer.headers["X-UAIT-Route"]
            name = {"small": "tiny", "medium": "mid", "strong": "big"}[tier]
            assert route.startswith(f"{name} (auto: {tier} tier, score "), (prompt, route)
            assert up.chats()[-1]["model"] == TARGETS[tier]


async def test_auto_on_the_ollama_routes_and_in_conversations(
    three_tiers: tuple[LiveServer, Upstream],
) -> None:
    server, up = three_tiers
    greeting, hard = PROMPTS[0][0], PROMPTS[5][0]
    async with client(server) as http:
        answer = await http.post("/api/chat", json=chat("auto", greeting, stream=False))
        assert answer.status_code == 200 and answer.headers["X-UAIT-Route"].startswith("tiny (")
        streamed = await http.post("/api/generate", json={"model": "auto", "prompt": hard})
        assert streamed.status_code == 200 and streamed.headers["X-UAIT-Route"].startswith("big (")
        assert '"done":true' in streamed.text

        conversation = (await http.post("/conversations", json={"model": "auto"})).json()
        turn = await http.post(f"/conversations/{conversation['id']}/chat", json={"content": hard})
        assert turn.status_code == 200, turn.text
        assert turn.headers["X-UAIT-Route"].startswith("big (auto: strong tier")
        stream = await http.post(
            f"/conversations/{conversation['id']}/chat", json={"content": "ok", "stream": True}
        )
        assert stream.headers["X-UAIT-Route"].startswith("tiny (auto: small tier")
    targets = [c["model"] for c in up.chats()]
    assert targets == ["tiny-1b", "big-70b", "big-70b", "tiny-1b"]


def test_missing_tiers_go_to_the_next_one_up_then_down() -> None:
    small = ModelConfig(name="s", backend="b", tier="small")
    strong = ModelConfig(name="x", backend="b", tier="strong")
    medium_need = Assessment("medium", 2.0, ())
    assert choose(medium_need, [small, strong], lambda m: True) is strong
    assert choose(Assessment("strong", 5.0, ()), [small], lambda m: True) is small
    # A model with no usable deployment is passed over for the next one.
    assert choose(medium_need, [small, strong], lambda m: m is not strong) is small


def test_accuracy_on_the_labelled_set() -> None:
    rows = [json.loads(line) for line in DATA.read_text().splitlines() if line.strip()]
    assert len(rows) >= 300
    hits = sum(
        assess([ChatMessage(role="user", content=r["prompt"])]).tier == r["tier"] for r in rows
    )
    assert hits / len(rows) >= 0.85


def test_auto_can_be_turned_off(routed: Routed, upstream: StartUpstream) -> None:
    up = upstream("openai")
    toml = backend("up", up) + model("m", backend="up", target="t")
    server = routed(toml, auto_model=None)
    models = httpx.get(f"{server.url}/v1/models", headers=server.headers).json()["data"]
    assert [m["id"] for m in models] == ["m"]
