"""The temporary single-key gate (UAIT_API_KEY) on every API route."""

from __future__ import annotations

import httpx
import openai
import pytest

from tests.conftest import SettingsFactory
from universal_ai_tools.app import create_app

PROTECTED = [
    ("GET", "/v1/models"),
    ("POST", "/v1/chat/completions"),
    ("POST", "/v1/embeddings"),
    ("GET", "/api/tags"),
    ("POST", "/api/chat"),
    ("POST", "/api/generate"),
    ("POST", "/api/show"),
    ("GET", "/api/ps"),
    ("GET", "/api/version"),
]


@pytest.fixture
async def gated(make_settings: SettingsFactory) -> httpx.AsyncClient:
    app = create_app(make_settings(api_key="s3cret-key"))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            yield client  # type: ignore[misc]


@pytest.mark.parametrize(("method", "path"), PROTECTED)
async def test_routes_need_the_key(gated: httpx.AsyncClient, method: str, path: str) -> None:
    response = await gated.request(method, path, json={})
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    wrong = await gated.request(method, path, json={}, headers={"x-api-key": "s3cret-kez"})
    assert wrong.status_code == 401
    assert "s3cret" not in wrong.text


async def test_bearer_and_x_api_key_both_pass(gated: httpx.AsyncClient) -> None:
    for headers in ({"Authorization": "Bearer s3cret-key"}, {"x-api-key": "s3cret-key"}):
        assert (await gated.get("/v1/models", headers=headers)).status_code == 200
        assert (await gated.get("/api/tags", headers=headers)).status_code == 200


async def test_health_and_ready_stay_open(gated: httpx.AsyncClient) -> None:
    assert (await gated.get("/health")).json() == {"status": "ok"}
    ready = await gated.get("/ready")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"database": "ok", "backend:embedded": "ok"}


def test_openai_client_with_the_key(make_settings: SettingsFactory, serve) -> None:  # type: ignore[no-untyped-def]
    server = serve(make_settings(api_key="s3cret-key"))
    good = openai.OpenAI(base_url=f"{server.url}/v1", api_key="s3cret-key")
    assert [m.id for m in good.models.list()] == ["smollm2"]
    bad = openai.OpenAI(base_url=f"{server.url}/v1", api_key="wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        bad.models.list()
