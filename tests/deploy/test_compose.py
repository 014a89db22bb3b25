"""deploy/docker-compose.yml describes the scale-out deployment: its services, images,
health checks and start order, and every file it mounts is in the repository."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped]

from tests.deploy.tools import DEPLOY
from universal_ai_tools.llm.plugins import build_plugin_manager, provider_factories
from universal_ai_tools.llm.routing import ModelRegistry
from universal_ai_tools.settings import load_settings

IMAGES = {
    "postgres": "pgvector/pgvector:",
    "redis": "redis:",
    "ollama": "ollama/ollama:",
    "nginx": "nginx:",
    "prometheus": "prom/prometheus:",
    "grafana": "grafana/grafana:",
    "otel-collector": "otel/opentelemetry-collector",
    "jaeger": "jaegertracing/all-in-one:",
}
HEALTH_CHECKED = ["postgres", "redis", "ollama", "nginx", "prometheus", "grafana"]


@pytest.fixture(scope="module")
def services() -> dict[str, Any]:
    compose = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    found: dict[str, Any] = compose["services"]
    return found


def apps(services: dict[str, Any]) -> dict[str, Any]:
    return {
        name: service
        for name, service in services.items()
        if service.get("build", {}).get("dockerfile") == "deploy/Dockerfile"
    }


def healthy_dependencies(service: dict[str, Any]) -> set[str]:
    return {
        name
        for name, condition in service.get("depends_on", {}).items()
        if condition.get("condition") == "service_healthy"
    }


def test_services_and_images(services: dict[str, Any]) -> None:
    for name, image in IMAGES.items():
        assert services[name]["image"].startswith(image), name
    assert len(apps(services)) >= 2


def test_health_checks_and_start_order(services: dict[str, Any]) -> None:
    app_services = apps(services)
    for name in [*HEALTH_CHECKED, *app_services]:
        assert services[name]["healthcheck"]["test"], name
    for name, app in app_services.items():
        assert {"postgres", "redis"} <= healthy_dependencies(app), name
    assert set(app_services) <= healthy_dependencies(services["nginx"])
    assert "prometheus" in healthy_dependencies(services["grafana"])
    assert "jaeger" in services["otel-collector"]["depends_on"]


def test_apps_run_in_scale_out_mode(services: dict[str, Any]) -> None:
    for name, app in apps(services).items():
        env = app["environment"]
        assert env["UAIT_DATABASE_URL"].startswith("postgresql+asyncpg://"), name
        assert "@postgres:" in env["UAIT_DATABASE_URL"], name
        assert env["UAIT_REDIS_URL"].startswith("redis://redis:"), name
        assert env["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://otel-collector:4318", name
        assert env["UAIT_CONFIG"] == "/etc/uait/uait.toml", name


def bind_mounts(services: dict[str, Any]) -> set[Path]:
    sources = set()
    for service in services.values():
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            if source.startswith("."):
                sources.add((DEPLOY / source).resolve())
    return sources


def test_mounted_files_are_in_the_repository(services: dict[str, Any]) -> None:
    """A mounted file that is missing (or ignored by git, so never committed) would make
    docker create an empty directory in its place."""
    mounted = bind_mounts(services)
    assert DEPLOY / "nginx" / "nginx.conf" in mounted
    assert DEPLOY / "grafana" / "dashboards" in mounted
    for path in mounted:
        assert path.exists(), path
        ignored = subprocess.run(["git", "check-ignore", "-q", str(path)], cwd=DEPLOY)
        assert ignored.returncode != 0, f"{path} is ignored by git"


def test_the_apps_configuration_is_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    """deploy/uait.toml passes what `uait serve` checks before it starts."""
    monkeypatch.setenv("UAIT_CONFIG", str(DEPLOY / "uait.toml"))
    settings = load_settings()
    registry = ModelRegistry(settings, provider_factories(build_plugin_manager()))
    assert "llama3.2" in registry.models
