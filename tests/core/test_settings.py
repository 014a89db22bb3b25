"""Settings from the environment and uait.toml, and the model registry they build."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import SettingsFactory
from universal_ai_tools.errors import ModelNotFound
from universal_ai_tools.llm.plugins import build_plugin_manager, provider_factories
from universal_ai_tools.llm.routing import ModelRegistry
from universal_ai_tools.settings import ConfigError, Settings, load_settings


def registry(settings: Settings) -> ModelRegistry:
    return ModelRegistry(settings, provider_factories(build_plugin_manager()))


def test_builtin_default_needs_no_file(make_settings: SettingsFactory) -> None:
    models = registry(make_settings())
    for name in ("smollm2", "smollm2:135m", "default", "smollm2:latest", "default:latest"):
        route = models.route(name)
        assert route.model.name == "smollm2" and route.target == "smollm2"
        assert route.provider.kind == "embedded"
    with pytest.raises(ModelNotFound):
        models.route("llama3")


def test_environment_overrides(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("UAIT_PORT", "9001")
    monkeypatch.setenv("UAIT_EMBEDDED__THREADS", "3")
    monkeypatch.setenv("UAIT_DATA_DIR", str(tmp_path / "d"))
    settings = load_settings()
    assert settings.port == 9001 and settings.embedded.threads == 3
    assert settings.resolved_database_url.endswith("/d/uait.db")


def test_toml_adds_to_the_default(make_settings: SettingsFactory) -> None:
    settings = make_settings(
        toml="""
[[backends]]
name = "ollama"
kind = "ollama"
url = "http://127.0.0.1:11434/"

[[models]]
name = "qwen"
tier = "medium"
deployments = [
  { backend = "ollama", target = "qwen2.5:7b", weight = 3 },
  { backend = "ollama", target = "qwen2.5:14b", weight = 1 },
]
"""
    )
    models = registry(settings)
    assert set(models.models) == {"smollm2", "all-minilm", "qwen"}
    assert settings.backends[0].url == "http://127.0.0.1:11434"
    targets = {models.route("qwen").target for _ in range(200)}
    assert targets == {"qwen2.5:7b", "qwen2.5:14b"}


def test_embedded_can_be_disabled(make_settings: SettingsFactory) -> None:
    settings = make_settings(
        toml='[embedded]\nenabled = false\n[[backends]]\nname="o"\nkind="ollama"\nurl="http://h"\n'
        '[[models]]\nname="m"\nbackend="o"\n'
    )
    models = registry(settings)
    assert set(models.models) == {"m"} and set(models.providers) == {"o"}
    assert models.route("m").target == "m"


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ('[[models]]\nname="m"\nbackend="missing"\n', "unknown backend 'missing'"),
        ('[[models]]\nname="smollm2"\nbackend="embedded"\n', "declared twice"),
        ('[[backends]]\nname="x"\nkind="ollama"\n', "needs a url"),
        ('[[backends]]\nname="x"\nkind="carrier-pigeon"\nurl="http://h"\n', "kind"),
    ],
)
def test_bad_configuration_is_refused(
    make_settings: SettingsFactory, toml: str, message: str
) -> None:
    with pytest.raises((ConfigError, ValueError)) as caught:
        registry(make_settings(toml=toml))
    assert message in str(caught.value)


def test_missing_config_file_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UAIT_CONFIG", "/nonexistent/uait.toml")
    with pytest.raises(ConfigError):
        load_settings()


async def test_curl_style_bodies_are_read_as_json(anon) -> None:  # type: ignore[no-untyped-def]
    body = b'{"email": "owner@example.com", "password": "owner-password-123"}'
    form = {"content-type": "application/x-www-form-urlencoded"}  # what `curl -d` sends
    response = await anon.post("/auth/login", content=body, headers=form)
    assert response.status_code == 200
    assert (await anon.post("/auth/login", content=body)).status_code == 200
