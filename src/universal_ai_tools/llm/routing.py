"""The model registry: which client-facing model names exist and how they are served.

`route(name)` resolves a name to a `Route` whose provider is a facade over the model's
deployments (balanced, retried, behind circuit breakers, with fallbacks and
coalescing: see `llm/dispatch.py`). The name `auto` (settings: `routing.auto_model`)
picks a model per request by the request's complexity (`llm/auto.py`). Every route
carries a trace that explains where the request went: the `X-UAIT-Route` header.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from universal_ai_tools.errors import BadRequest, ModelNotFound
from universal_ai_tools.llm import auto
from universal_ai_tools.llm.deployments import Deployment
from universal_ai_tools.llm.dispatch import Dispatcher, RouteTrace
from universal_ai_tools.llm.health_checks import HealthMonitor
from universal_ai_tools.llm.providers.base import Provider, ProviderFactory
from universal_ai_tools.llm.resilience import CircuitBreaker, FairGate
from universal_ai_tools.llm.types import (
    ChatDelta,
    ChatMessage,
    ChatRequest,
    ChatResult,
    EmbeddingResult,
    ModelInfo,
)
from universal_ai_tools.settings import (
    EMBEDDED_BACKEND,
    BackendConfig,
    ConfigError,
    ModelConfig,
    Settings,
)

ROUTE_HEADER = "X-UAIT-Route"


@dataclass(frozen=True, slots=True)
class Route:
    """A model name resolved: the model, its facade provider and (for information) the
    target of the deployment the balancer would pick now; `trace` explains the route."""

    model: ModelConfig
    provider: Provider
    target: str
    trace: RouteTrace = field(default_factory=lambda: RouteTrace(""))

    def header(self, chat: ChatRequest | None = None) -> dict[str, str]:
        """`X-UAIT-Route: <model> (<reason>)`; an answer from the cache is explained too."""
        provider = self.provider
        if isinstance(provider, AutoProvider) and provider.chosen is None and chat is not None:
            provider.decide(chat.messages)
        if not self.trace.requested:
            return {}
        return {ROUTE_HEADER: self.trace.header()}


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
        self.settings = settings
        self.providers: dict[str, Provider] = {}
        self.backends: dict[str, BackendConfig] = {}
        for backend in [*builtin_backends, *settings.backends]:
            if backend.name in self.providers:
                raise ConfigError(f"two backends are named {backend.name!r}")
            factory = factories.get(backend.kind)
            if factory is None:
                raise ConfigError(
                    f"backend {backend.name!r}: no provider for kind {backend.kind!r}"
                )
            self.providers[backend.name] = factory(backend, settings)
            self.backends[backend.name] = backend
        self.models: dict[str, ModelConfig] = {}
        self._names: dict[str, str] = {}
        for model in [*builtin_model_list, *settings.models]:
            self._add(model)
        self._check_references()
        self.auto = self._auto_model()
        routing = settings.routing
        self._breakers: dict[tuple[str, str], CircuitBreaker] = {}
        self.gates = {name: FairGate(b.max_concurrency) for name, b in self.backends.items()}
        self.deployments = {name: self._deployments(m) for name, m in self.models.items()}
        self.dispatcher = Dispatcher(routing, self.deployments, self.lookup)
        by_backend: dict[str, list[CircuitBreaker]] = {}
        for (backend_name, _), breaker in self._breakers.items():
            by_backend.setdefault(backend_name, []).append(breaker)
        self.health = HealthMonitor(
            self.providers, by_backend, routing.health_interval, routing.health_timeout
        )

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

    def _check_references(self) -> None:
        for model in self.models.values():
            for name in [*model.fallbacks, *filter(None, [model.context_fallback])]:
                if name not in self._names:
                    raise ConfigError(f"model {model.name!r} falls back to unknown {name!r}")
                if self.models[self._names[name]].kind != model.kind:
                    raise ConfigError(f"model {model.name!r} falls back to a {model.kind} model")

    def _auto_model(self) -> ModelConfig | None:
        name = self.settings.routing.auto_model
        chat_models = [m for m in self.models.values() if m.kind == "chat"]
        if not name or name in self._names or not chat_models:
            return None  # off, or a configured model of that name takes precedence
        return ModelConfig.model_construct(
            name=name, kind="chat", tier="medium", aliases=[], fallbacks=[], deployments=[]
        )

    def _deployments(self, model: ModelConfig) -> list[Deployment]:
        routing = self.settings.routing
        found = []
        for d in model.deployments:
            backend = self.backends[d.backend]
            breaker = self._breakers.setdefault(
                (d.backend, d.target),
                CircuitBreaker(routing.breaker_threshold, routing.breaker_cooldown),
            )
            provider = self.providers[d.backend]
            first_token = backend.first_token_timeout or (
                routing.first_token_timeout if provider.kind != "embedded" else None
            )
            found.append(
                Deployment(
                    d.backend,
                    d.target,
                    d.weight,
                    provider,
                    breaker,
                    self.gates[d.backend],
                    first_token,
                )
            )
        return found

    async def start(self) -> None:
        for provider in self.providers.values():
            await provider.start()
        self.health.start()

    async def close(self) -> None:
        await self.health.stop()
        await self.dispatcher.close()
        for provider in self.providers.values():
            await provider.close()

    def lookup(self, name: str) -> ModelConfig:
        """The model a client-facing name (or alias, or `name:latest`) refers to."""
        canonical = self._names.get(name)
        if canonical is None and name.endswith(":latest"):
            canonical = self._names.get(name.removesuffix(":latest"))
        if canonical is None:
            if self.auto is not None and name.removesuffix(":latest") == self.auto.name:
                return self.auto
            raise ModelNotFound(f"model {name!r} not found")
        return self.models[canonical]

    def has(self, name: str) -> bool:
        bare = name.removesuffix(":latest")
        return (
            name in self._names
            or bare in self._names
            or (self.auto is not None and bare == self.auto.name)
        )

    def route(self, name: str, kind: str | None = "chat") -> Route:
        """`kind` None: any model (descriptions); else the model must be of that kind."""
        model = self.lookup(name)
        if kind is not None and model.kind != kind:
            use = "/v1/embeddings or /api/embed" if model.kind == "embedding" else "a chat route"
            article = "an" if model.kind == "embedding" else "a"
            raise BadRequest(f"model {name!r} is {article} {model.kind} model; use {use}")
        if model is self.auto:
            trace = RouteTrace("")
            provider: Provider = AutoProvider(self, trace)
            return Route(model, provider, model.name, trace)
        trace = RouteTrace(model.name)
        return Route(model, ModelProvider(self, model, trace), self._preview(model), trace)

    def _preview(self, model: ModelConfig) -> str:
        deployments = self.deployments[model.name]
        if len(deployments) == 1:
            return deployments[0].target
        usable = [d for d in deployments if d.breaker.allows()] or deployments
        return random.choices(usable, weights=[d.weight for d in usable])[0].target

    def usable(self, model: ModelConfig) -> bool:
        return any(d.breaker.allows() for d in self.deployments[model.name])

    def deployment_states(self, model: ModelConfig) -> list[tuple[Deployment, str]]:
        return [(d, d.breaker.state) for d in self.deployments.get(model.name, [])]

    def breaker_level(self, backend: str) -> int:
        """The worst breaker state among a backend's deployments: 0 closed, 1 half-open,
        2 open (the metrics' encoding)."""
        levels = {"closed": 0, "half-open": 1, "open": 2}
        states = [b.state for (name, _), b in self._breakers.items() if name == backend]
        return max((levels[state] for state in states), default=0)

    def breaker_reader(self, backend: str) -> Callable[[], float]:
        return lambda: float(self.breaker_level(backend))

    async def backend_health(self) -> dict[str, bool]:
        """Each backend's health, checked live at most every few seconds."""
        return await self.health.current()


@runtime_checkable
class CountsTokens(Protocol):
    """A provider that can tell a prompt's exact length in tokens (the embedded model)."""

    def count_prompt_tokens(self, request: ChatRequest) -> int | None: ...


class ModelProvider:
    """The provider a route hands out: one model's calls through the dispatcher."""

    def __init__(self, registry: ModelRegistry, model: ModelConfig, trace: RouteTrace) -> None:
        self.registry = registry
        self.model = model
        self.trace = trace
        self.kind = registry.deployments[model.name][0].provider.kind

    @property
    def name(self) -> str:
        """The backend that answered (before a call: the model's first deployment's)."""
        return self.trace.backend or self._first().backend

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def chat(self, request: ChatRequest) -> ChatResult:
        return await self.registry.dispatcher.chat(self.model, request, self.trace)

    def stream_chat(self, request: ChatRequest) -> AsyncIterator[ChatDelta]:
        return self.registry.dispatcher.stream_chat(self.model, request, self.trace)

    async def embed(self, target: str, inputs: list[str]) -> EmbeddingResult:
        return await self.registry.dispatcher.embed(self.model, inputs, self.trace)

    def _first(self) -> Deployment:
        return self.registry.deployments[self.model.name][0]

    def count_prompt_tokens(self, request: ChatRequest) -> int | None:
        """The largest exact count among the deployments that can count (the prompt must
        fit whichever one answers); None when none can."""
        counts = [
            deployment.provider.count_prompt_tokens(request)
            for deployment in self.registry.deployments[self.model.name]
            if isinstance(deployment.provider, CountsTokens)
        ]
        known = [count for count in counts if count is not None]
        return max(known) if known else None

    async def list_models(self) -> list[ModelInfo]:
        return await self._first().provider.list_models()

    async def model_info(self, target: str) -> ModelInfo:
        return await self._first().provider.model_info(target)

    async def health(self) -> bool:
        health = await self.registry.backend_health()
        return any(health[d.backend] for d in self.registry.deployments[self.model.name])


class AutoProvider(ModelProvider):
    """`model: "auto"`: each call goes to the model the complexity scorer picks."""

    def __init__(self, registry: ModelRegistry, trace: RouteTrace) -> None:
        self.registry = registry
        self.trace = trace
        self.chosen: ModelConfig | None = None
        assert registry.auto is not None
        self.kind = "auto"

    def decide(self, messages: list[ChatMessage]) -> ModelConfig:
        assessment = auto.assess(messages)
        candidates = [m for m in self.registry.models.values() if m.kind == "chat"]
        self.chosen = auto.choose(assessment, candidates, self.registry.usable)
        self.model = self.chosen
        self.trace.requested = self.chosen.name
        self.trace.reason = assessment.explain()
        return self.chosen

    async def chat(self, request: ChatRequest) -> ChatResult:
        return await self.registry.dispatcher.chat(
            self.decide(request.messages), request, self.trace
        )

    def stream_chat(self, request: ChatRequest) -> AsyncIterator[ChatDelta]:
        return self.registry.dispatcher.stream_chat(
            self.decide(request.messages), request, self.trace
        )

    async def embed(self, target: str, inputs: list[str]) -> EmbeddingResult:
        raise BadRequest("model 'auto' is a chat model")

    def count_prompt_tokens(self, request: ChatRequest) -> int | None:
        """Counted for the model the scorer picks for these very messages."""
        self.decide(request.messages)
        return super().count_prompt_tokens(request)

    def _first(self) -> Deployment:
        model = self.chosen or next(m for m in self.registry.models.values() if m.kind == "chat")
        return self.registry.deployments[model.name][0]

    async def model_info(self, target: str) -> ModelInfo:
        assert self.registry.auto is not None
        return ModelInfo(name=self.registry.auto.name, family="auto")

    async def health(self) -> bool:
        return any(self.registry.usable(m) for m in self.registry.models.values())
