"""Models routed to fake Ollama and OpenAI-compatible upstreams declared in uait.toml."""

from __future__ import annotations

from collections.abc import Callable

import ollama
import openai
import pytest

from tests.conftest import SettingsFactory
from tests.fakes import FakeOllama, FakeOpenAI
from tests.servers import LiveServer
from universal_ai_tools.settings import Settings

Serve = Callable[[Settings], LiveServer]


def remote_toml(ollama_url: str, openai_url: str) -> str:
    return f"""
[[backends]]
name = "ollama"
kind = "ollama"
url = "{ollama_url}"

[[backends]]
name = "vllm"
kind = "openai"
url = "{openai_url}/v1"
api_key_env = "VLLM_KEY"

[[models]]
name = "llama3"
backend = "ollama"
target = "llama3:8b"
tier = "strong"
aliases = ["big"]

[[models]]
name = "gpt"
backend = "vllm"
target = "gpt-fake"
"""


@pytest.fixture
def remote_server(
    make_settings: SettingsFactory,
    serve: Serve,
    fake_ollama: tuple[FakeOllama, str],
    fake_openai: tuple[FakeOpenAI, str],
    monkeypatch: pytest.MonkeyPatch,
) -> LiveServer:
    monkeypatch.setenv("VLLM_KEY", "sk-upstream-secret")
    return serve(make_settings(toml=remote_toml(fake_ollama[1], fake_openai[1])))


def test_models_list_every_backend(remote_server: LiveServer) -> None:
    client = openai.OpenAI(base_url=f"{remote_server.url}/v1", api_key=remote_server.key)
    models = {m.id: m for m in client.models.list()}
    assert set(models) == {"smollm2", "all-minilm", "llama3", "gpt", "auto"}
    extension = models["llama3"].model_extra["uait"]  # type: ignore[index]
    assert extension["tier"] == "strong" and extension["aliases"] == ["big"]
    assert extension["deployments"] == [
        {"backend": "ollama", "target": "llama3:8b", "state": "closed", "healthy": True}
    ]


def test_openai_client_reaches_both_upstreams(
    remote_server: LiveServer,
    fake_ollama: tuple[FakeOllama, str],
    fake_openai: tuple[FakeOpenAI, str],
) -> None:
    client = openai.OpenAI(base_url=f"{remote_server.url}/v1", api_key=remote_server.key)
    for model in ("big", "gpt"):
        answer = client.chat.completions.create(
            model=model, messages=[{"role": "user", "content": "hi"}], temperature=0.2, max_tokens=9
        )
        assert answer.choices[0].message.content == "Hello from the upstream"
        assert answer.model == model
        assert answer.usage is not None and answer.usage.completion_tokens == 4
        stream = client.chat.completions.create(
            model=model,
            messages=[{"role": "user", "content": "hi"}],
            stream=True,
            stream_options={"include_usage": True},
        )
        chunks = list(stream)
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        assert text == "Hello from the upstream"
        assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 4

    ollama_calls = [c for c in fake_ollama[0].calls if c.path == "/api/chat"]
    assert [c.body["model"] for c in ollama_calls] == ["llama3:8b", "llama3:8b"]
    assert ollama_calls[0].body["options"] == {"temperature": 0.2, "num_predict": 9}
    assert [c.body["stream"] for c in ollama_calls] == [False, True]
    openai_calls = [c for c in fake_openai[0].calls if c.path == "/v1/chat/completions"]
    assert [c.body["model"] for c in openai_calls] == ["gpt-fake", "gpt-fake"]
    assert openai_calls[0].headers["Authorization"] == "Bearer sk-upstream-secret"
    assert openai_calls[1].body["stream_options"] == {"include_usage": True}


def test_ollama_client_reaches_both_upstreams(
    remote_server: LiveServer,
    fake_ollama: tuple[FakeOllama, str],
    fake_openai: tuple[FakeOpenAI, str],
) -> None:
    client = ollama.Client(host=remote_server.url, headers=remote_server.headers)
    assert {m.model for m in client.list().models} == {"smollm2", "all-minilm", "llama3", "gpt"}
    for model in ("llama3", "gpt"):
        answer = client.chat(model=model, messages=[{"role": "user", "content": "hi"}])
        assert answer.message.content == "Hello from the upstream"
        assert answer.eval_count == 4
        parts = list(
            client.chat(model=model, messages=[{"role": "user", "content": "hi"}], stream=True)
        )
        assert "".join(p.message.content or "" for p in parts) == "Hello from the upstream"
        assert parts[-1].done and parts[-1].done_reason == "stop"
        generated = client.generate(model=model, prompt="hi", system="be brief")
        assert generated.response == "Hello from the upstream"
    shown = client.show("llama3")
    assert shown.modelinfo is not None and shown.modelinfo["llama.context_length"] == 8192
    assert [c.body["model"] for c in fake_ollama[0].calls if c.path == "/api/chat"] == [
        "llama3:8b"
    ] * 3
    generate_call = [c for c in fake_ollama[0].calls if c.path == "/api/chat"][-1]
    assert generate_call.body["messages"] == [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "hi"},
    ]
    assert [c.body["model"] for c in fake_openai[0].calls if c.body] == ["gpt-fake"] * 3
