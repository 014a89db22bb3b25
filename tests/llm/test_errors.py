"""Bad input gets a clear 4xx in the route family's error shape; backend trouble a 502/503."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import ollama
import openai
import pytest

from tests.conftest import SettingsFactory
from tests.fakes import FakeOpenAI
from tests.servers import LiveServer, free_port
from universal_ai_tools.settings import Settings

Serve = Callable[[Settings], LiveServer]
CHAT = {"model": "smollm2", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 2}


def openai_error(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) - {"trace_id"} == {"message", "type", "code"}
    assert "Traceback" not in error["message"] and "/work" not in error["message"]
    return str(error["message"])


def ollama_error(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) - {"trace_id"} == {"error"} and isinstance(body["error"], str)
    return str(body["error"])


async def test_unknown_model_is_404_in_each_shape(client: httpx.AsyncClient) -> None:
    body = {**CHAT, "model": "nope"}
    message = openai_error(await client.post("/v1/chat/completions", json=body), 404)
    assert "nope" in message and "not found" in message
    assert "nope" in ollama_error(await client.post("/api/chat", json=body), 404)
    assert "nope" in ollama_error(await client.post("/api/generate", json=body), 404)
    assert "nope" in ollama_error(await client.post("/api/show", json={"model": "nope"}), 404)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b'{"model": "smollm2", "messages": [', "not valid JSON"),
        (b"", "empty"),
        (b"[1, 2]", "JSON object"),
        (b'{"model": "smollm2"}', "messages: Field required"),
        (b'{"model": "smollm2", "messages": "hi"}', "messages"),
        (b'{"model": 7, "messages": [{"role": "user", "content": "hi"}]}', "model"),
        (b'{"model": "smollm2", "messages": []}', "messages"),
        (b'{"model": "smollm2", "messages": [{"role": "wizard", "content": "x"}]}', "role"),
        (b'{"model": "smollm2", "messages": [{"role": "user", "content": "x"}], "n": 2}', "n > 1"),
        (
            b'{"model": "smollm2", "messages": [{"role": "user", "content": "x"}], '
            b'"max_tokens": -5}',
            "max_tokens",
        ),
        (
            b'{"model": "smollm2", "messages": [{"role": "user", "content": "x"}], '
            b'"temperature": 9}',
            "temperature",
        ),
    ],
)
async def test_malformed_chat_requests_are_400(
    client: httpx.AsyncClient, body: bytes, expected: str
) -> None:
    message = openai_error(await client.post("/v1/chat/completions", content=body), 400)
    assert expected in message


async def test_malformed_ollama_requests_are_400(client: httpx.AsyncClient) -> None:
    assert "not valid JSON" in ollama_error(await client.post("/api/chat", content=b"{"), 400)
    message = ollama_error(await client.post("/api/generate", json={"prompt": "x"}), 400)
    assert "model is required" in message
    bad_options = {"model": "smollm2", "prompt": "x", "options": {"temperature": "hot"}}
    assert "temperature" in ollama_error(await client.post("/api/generate", json=bad_options), 400)


async def test_ten_megabyte_body_is_413(client: httpx.AsyncClient) -> None:
    huge = (
        b'{"model": "smollm2", "messages": [{"role": "user", "content": "'
        + b"a" * (10 * 1024 * 1024)
        + b'"}]}'
    )
    message = openai_error(await client.post("/v1/chat/completions", content=huge), 413)
    assert "larger than the limit" in message
    ollama_error(await client.post("/api/chat", content=huge), 413)

    async def chunks():  # no Content-Length: the limit applies while reading
        for _ in range(11):
            yield b"a" * (1024 * 1024)

    response = await client.post("/v1/chat/completions", content=chunks())
    openai_error(response, 413)


async def test_unknown_route_and_method(client: httpx.AsyncClient) -> None:
    openai_error(await client.get("/v1/nothing"), 404)
    ollama_error(await client.get("/api/nothing"), 404)
    openai_error(await client.get("/v1/chat/completions"), 405)


async def test_embedded_model_rejects_tools_and_overlong_prompts(client: httpx.AsyncClient) -> None:
    tool = {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}
    response = await client.post("/v1/chat/completions", json={**CHAT, "tools": [tool]})
    assert "does not support tools" in openai_error(response, 400)
    long_text = "word " * 3000
    body = {**CHAT, "messages": [{"role": "user", "content": long_text}]}
    response = await client.post("/v1/chat/completions", json=body)
    assert "context is 2048 tokens" in openai_error(response, 400)


def down_toml(url: str, timeout: float = 30.0) -> str:
    return f"""
[[backends]]
name = "remote"
kind = "openai"
url = "{url}/v1"
timeout = {timeout}

[[models]]
name = "remote-model"
backend = "remote"
target = "x"

[[backends]]
name = "remote-ollama"
kind = "ollama"
url = "{url}"
timeout = {timeout}

[[models]]
name = "remote-ollama-model"
backend = "remote-ollama"
target = "x"
"""


def test_backend_down_is_503_not_a_hang(make_settings: SettingsFactory, serve: Serve) -> None:
    server = serve(make_settings(toml=down_toml(f"http://127.0.0.1:{free_port()}")))
    client = openai.OpenAI(base_url=f"{server.url}/v1", api_key=server.key, max_retries=0)
    for stream in (False, True):
        with pytest.raises(openai.APIStatusError) as caught:
            result = client.chat.completions.create(
                model="remote-model", messages=[{"role": "user", "content": "hi"}], stream=stream
            )
            list(result) if stream else None  # type: ignore[call-overload]
        assert caught.value.status_code == 503
        assert "unreachable" in caught.value.message
    with pytest.raises(ollama.ResponseError) as ollama_caught:
        ollama.Client(host=server.url, headers=server.headers).chat(
            model="remote-ollama-model", messages=[{"role": "user", "content": "hi"}]
        )
    assert ollama_caught.value.status_code == 503
    ready = httpx.get(f"{server.url}/ready")
    assert ready.status_code == 200  # the embedded backend is still up
    assert ready.json()["checks"]["backend:remote"] == "unavailable"


def test_backend_errors_and_stalls(
    make_settings: SettingsFactory, serve: Serve, fake_openai: tuple[FakeOpenAI, str]
) -> None:
    fake, url = fake_openai
    server = serve(make_settings(toml=down_toml(url, timeout=0.5)))
    client = openai.OpenAI(base_url=f"{server.url}/v1", api_key=server.key, max_retries=0)
    messages = [{"role": "user", "content": "hi"}]
    fake.behaviour.fail_status = 500
    with pytest.raises(openai.APIStatusError) as caught:
        client.chat.completions.create(model="remote-model", messages=messages)  # type: ignore[arg-type]
    assert caught.value.status_code == 502 and "answered 500" in caught.value.message
    fake.behaviour.fail_status = 400
    with pytest.raises(openai.BadRequestError) as rejected:
        client.chat.completions.create(model="remote-model", messages=messages)  # type: ignore[arg-type]
    assert "fake failure 400" in rejected.value.message
    fake.behaviour.fail_status = None
    fake.behaviour.stall_seconds = 3
    with pytest.raises(openai.APIStatusError) as stalled:
        client.chat.completions.create(model="remote-model", messages=messages)  # type: ignore[arg-type]
    assert stalled.value.status_code == 503 and "timed out" in stalled.value.message


def test_stream_cut_by_backend_ends_with_an_error_event(
    make_settings: SettingsFactory, serve: Serve, fake_openai: tuple[FakeOpenAI, str]
) -> None:
    fake, url = fake_openai
    fake.behaviour.words = [f"w{i} " for i in range(10)]
    fake.behaviour.cut_after = 4
    server = serve(make_settings(toml=down_toml(url)))
    client = openai.OpenAI(base_url=f"{server.url}/v1", api_key=server.key, max_retries=0)
    received: list[str] = []
    with pytest.raises(openai.APIError) as caught:
        stream = client.chat.completions.create(
            model="remote-model", messages=[{"role": "user", "content": "hi"}], stream=True
        )
        for chunk in stream:
            received.append(chunk.choices[0].delta.content or "")
    assert "".join(received) == "w0 w1 w2 "
    assert "cut the response short" in caught.value.message
