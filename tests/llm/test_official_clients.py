"""The official `openai` and `ollama` client libraries against a real uvicorn server,
answering from the embedded SmolLM2 model."""

from __future__ import annotations

import ollama
import openai

from tests.servers import LiveServer


def test_openai_lists_models(live_server: LiveServer) -> None:
    client = openai.OpenAI(base_url=f"{live_server.url}/v1", api_key=live_server.key)
    ids = [model.id for model in client.models.list()]
    assert ids == ["smollm2", "all-minilm", "auto"]  # `auto`: picked per request by complexity


def test_openai_completion_has_text_and_usage(live_server: LiveServer) -> None:
    client = openai.OpenAI(base_url=f"{live_server.url}/v1", api_key=live_server.key)
    completion = client.chat.completions.create(
        model="smollm2",
        messages=[{"role": "user", "content": "What is the capital of France?"}],
        max_tokens=24,
        temperature=0,
    )
    choice = completion.choices[0]
    assert choice.message.role == "assistant"
    assert choice.message.content and choice.message.content.strip()
    assert choice.finish_reason in ("stop", "length")
    assert completion.model == "smollm2"
    assert completion.usage is not None
    assert completion.usage.prompt_tokens > 0
    assert 0 < completion.usage.completion_tokens <= 24
    total = completion.usage.prompt_tokens + completion.usage.completion_tokens
    assert completion.usage.total_tokens == total


def test_openai_stream_concatenates_and_ends_with_usage(live_server: LiveServer) -> None:
    client = openai.OpenAI(base_url=f"{live_server.url}/v1", api_key=live_server.key)
    question = [{"role": "user", "content": "Name three colours."}]
    chunks = list(
        client.chat.completions.create(
            model="default",
            messages=question,  # type: ignore[arg-type]
            max_tokens=20,
            temperature=0,
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    content_chunks = [c for c in chunks if c.choices]
    assert content_chunks[0].choices[0].delta.role == "assistant"
    assert all(c.choices[0].delta.role is None for c in content_chunks[1:])
    streamed = "".join(c.choices[0].delta.content or "" for c in content_chunks)
    assert content_chunks[-1].choices[0].finish_reason in ("stop", "length")
    last = chunks[-1]
    assert last.choices == []
    assert last.usage is not None and last.usage.completion_tokens > 0
    assert all(c.usage is None for c in chunks[:-1])
    whole = client.chat.completions.create(
        model="default",
        messages=question,
        max_tokens=20,
        temperature=0,  # type: ignore[arg-type]
    )
    assert streamed == whole.choices[0].message.content
    assert last.usage.completion_tokens == whole.usage.completion_tokens  # type: ignore[union-attr]


def test_ollama_list_chat_and_generate(live_server: LiveServer) -> None:
    client = ollama.Client(host=live_server.url, headers=live_server.headers)
    names = [model.model for model in client.list().models]
    assert names == ["smollm2", "all-minilm"]

    messages = [{"role": "user", "content": "Say hello."}]
    options = {"temperature": 0, "num_predict": 16}
    answer = client.chat(model="smollm2", messages=messages, options=options)
    assert answer.done is True
    assert answer.message.role == "assistant"
    assert answer.message.content
    assert answer.eval_count and answer.eval_count <= 16
    assert answer.prompt_eval_count and answer.prompt_eval_count > 0
    assert answer.total_duration and answer.total_duration > 0

    parts = list(client.chat(model="smollm2", messages=messages, options=options, stream=True))
    assert [p.done for p in parts].count(True) == 1 and parts[-1].done
    assert parts[-1].done_reason in ("stop", "length")
    assert "".join(p.message.content or "" for p in parts) == answer.message.content
    assert parts[-1].eval_count == answer.eval_count

    generated = client.generate(model="smollm2:latest", prompt="Say hello.", options=options)
    assert generated.done and generated.response
    streamed = list(
        client.generate(model="smollm2", prompt="Say hello.", options=options, stream=True)
    )
    assert "".join(p.response for p in streamed) == generated.response


def test_ollama_show_ps_and_version(live_server: LiveServer) -> None:
    client = ollama.Client(host=live_server.url, headers=live_server.headers)
    shown = client.show("smollm2")
    assert shown.details is not None and shown.details.quantization_level == "Q4_1"
    assert shown.modelinfo is not None and shown.modelinfo["llama.context_length"] == 2048
    running = client.ps()
    assert [m.model for m in running.models] == ["smollm2", "all-minilm"]
    version = client._client.get("/api/version").json()
    assert version["version"]
