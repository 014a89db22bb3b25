"""The model registry: which client-facing model names exist and which backend serves them."""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass

from universal_ai_tools.errors import BadRequest, ModelNotFound
from universal_ai_tools.llm.providers.base import Provider, ProviderFactory
from universal_ai_tools.settings import (
    EMBEDDED_BACKEND,
    BackendConfig,
    ConfigError,
    DeploymentConfig,
    ModelConfig,
    Settings,
)

HEALTH_TTL_SECONDS = 5.0
HEALTH_CHECK_TIMEOUT = 3.0


@dataclass(frozen=True, slots=True)
class Route:
    """A model name resolved to one deployment: the provider and its own model name."""

    model: ModelConfig
    provider: Provider
    target: str


def builtin_models(settings: Settings) -> tuple[list[BackendConfig], list[ModelConfig]]:
    """The embedded backend and its models, unless `[embedded] enabled = false`."""
    embedded = settings.embedded
    models = []
    if embedded.enabled:
        models.append(
            ModelConfig(
                name=embedded.model_name,
                backend=EMBEDDED_BACKEND,
                target=embedded.model_name,
                tier="small",
                aliases=list(embedded.aliases),
                context_size=embedded.context_size,
            )
        )
    if embedded.embeddings_on:
        models.append(
            ModelConfig(
                name=embedded.embedding_model_name,
                kind="embedding",
                backend=EMBEDDED_BACKEND,
                target=embedded.embedding_model_name,
                tier="small",
                aliases=list(embedded.embedding_aliases),
            )
        )
    if not models:
        return [], []
    return [BackendConfig(name=EMBEDDED_BACKEND, kind="embedded")], models


class ModelRegistry:
    def __init__(self, settings: Settings, factories: dict[str, ProviderFactory]) -> None:
        builtin_backends, builtin_model_list = builtin_models(settings)
        self.providers: dict[str, Provider] = {}
        for backend in [*builtin_backends, *settings.backends]:
            if backend.name in self.providers:
                raise ConfigError(f"two backends are named {backend.name!r}")
            factory = factories.get(backend.kind)
            if factory is None:
                raise ConfigError(
                    f"backend {backend.name!r}: no provider for kind {backend.kind!r}"
                )
            self.providers[backend.name] = factory(backend, settings)
        self.models: dict[str, ModelConfig] = {}
        self._names: dict[str, str] = {}
        for model in [*builtin_model_list, *settings.models]:
            self._add(model)
        self._health: dict[str, tuple[float, bool]] = {}

    def _add(self, model: ModelConfig) -> None:
        for deployment in model.deployments:
            if deployment.backend not in self.providers:
                raise ConfigError(
                    f"model {model.name!r} names an unknown backend {deployment.backend!r}"
                )
        for name in (model.name, *model.aliases):
            if name in self._names:
                raise ConfigError(f"the model name {name!r} is declared twice")
            self._names[name] = model.name
        self.models[model.name] = model

    async def start(self) -> None:
        for provider in self.providers.values():
            await provider.start()

    async def close(self) -> None:
        for provider in self.providers.values():
            await provider.close()

    def lookup(self, name: str) -> ModelConfig:
        """The model a client-facing name (or alias, or `name:latest`) refers to."""
        canonical = self._names.get(name)
        if canonical is None and name.endswith(":latest"):
            canonical = self._names.get(name.removesuffix(":latest"))
        if canonical is None:
            raise ModelNotFound(f"model {name!r} not found")
        return self.models[canonical]

    def has(self, name: str) -> bool:
        return name in self._names or name.removesuffix(":latest") in self._names

    def route(self, name: str, kind: str | None = "chat") -> Route:
        """`kind` None: any model (descriptions); else the model must be of that kind."""
        model = self.lookup(name)
        if kind is not None and model.kind != kind:
            use = "/v1/embeddings or /api/embed" if model.kind == "embedding" else "a chat route"
            article = "an" if model.kind == "embedding" else "a"
            raise BadRequest(f"model {name!r} is {article} {model.kind} model; use {use}")
        deployment = self._pick(model.deployments)
        return Route(model, self.providers[deployment.backend], deployment.target)

    @staticmethod
    def _pick(deployments: list[DeploymentConfig]) -> DeploymentConfig:
        if len(deployments) == 1:
            return deployments[0]
        return random.choices(deployments, weights=[d.weight for d in deployments])[0]

    async def backend_health(self) -> dict[str, bool]:
        """Each backend's health, checked live at most every few seconds."""
        now = time.monotonic()
        stale = [
            name
            for name in self.providers
            if now - self._health.get(name, (0.0, False))[0] > HEALTH_TTL_SECONDS
        ]
        results = await asyncio.gather(*(self._check(self.providers[name]) for name in stale))
        for name, healthy in zip(stale, results, strict=True):
            self._health[name] = (now, healthy)
        return {name: self._health[name][1] for name in self.providers}

    @staticmethod
    async def _check(provider: Provider) -> bool:
        try:
            return await asyncio.wait_for(provider.health(), HEALTH_CHECK_TIMEOUT)
        except TimeoutError:
            return False
