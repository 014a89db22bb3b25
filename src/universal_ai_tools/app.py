"""`create_app(settings)`: the one place that assembles routers, middleware and lifespan."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from opentelemetry.sdk.trace import TracerProvider
from starlette.responses import HTMLResponse

from universal_ai_tools import __version__
from universal_ai_tools.agents import router as agents_router
from universal_ai_tools.agents.service import AgentService
from universal_ai_tools.auth import admin_router, credentials_router
from universal_ai_tools.auth import router as auth_router
from universal_ai_tools.auth.deps import PrincipalDep
from universal_ai_tools.auth.identity import bootstrap_first_owner, build_identity
from universal_ai_tools.auth.tokens import load_signing_secret
from universal_ai_tools.cache import router as cache_router
from universal_ai_tools.cache.pgvector_index import PgvectorIndex
from universal_ai_tools.cache.service import ResponseCache
from universal_ai_tools.cache.store import MemoryCacheStore
from universal_ai_tools.conversations import router as conversations_router
from universal_ai_tools.conversations.chat import ConversationChat
from universal_ai_tools.conversations.feedback import FeedbackService
from universal_ai_tools.conversations.service import ConversationService
from universal_ai_tools.conversations.turns import Conversations
from universal_ai_tools.db import migrate
from universal_ai_tools.db.engine import engine_for, probe_engine, session_factory
from universal_ai_tools.edge import BodySizeLimit, JsonByDefault, install_error_handlers
from universal_ai_tools.limits.memory import MemoryCounterStore
from universal_ai_tools.llm import embeddings_api, ollama_api, openai_api
from universal_ai_tools.llm.plugins import build_plugin_manager, provider_factories
from universal_ai_tools.llm.routing import ModelRegistry
from universal_ai_tools.memory import router as memory_router
from universal_ai_tools.memory.service import MemoryService
from universal_ai_tools.observability import health
from universal_ai_tools.observability.llm import LlmObserver
from universal_ai_tools.observability.metrics import Metrics
from universal_ai_tools.observability.middleware import ObservabilityMiddleware
from universal_ai_tools.observability.tracing import build_tracer_provider, tracer_of
from universal_ai_tools.realtime import router as realtime_router
from universal_ai_tools.realtime import ws
from universal_ai_tools.realtime.ai import AgentSessions
from universal_ai_tools.realtime.bus import EventBus, LocalBus
from universal_ai_tools.realtime.files import FileService
from universal_ai_tools.realtime.hub import Hub
from universal_ai_tools.realtime.rooms import RoomService
from universal_ai_tools.realtime.ws import Realtime
from universal_ai_tools.scaleout import build_shared_state
from universal_ai_tools.settings import EMBEDDED_BACKEND, Settings, load_settings
from universal_ai_tools.web import router as web_router


def create_app(
    settings: Settings | None = None, *, tracer_provider: TracerProvider | None = None
) -> FastAPI:
    """The app. `tracer_provider` replaces the one built from the OTEL_* variables (tests)."""
    settings = settings or load_settings()
    metrics = Metrics()
    tracer_provider = tracer_provider or build_tracer_provider()
    # Refuse to start with a short or unreadable signing secret before anything else.
    load_signing_secret(settings.jwt_secret, settings.data_dir)
    plugins = build_plugin_manager()
    registry = ModelRegistry(settings, provider_factories(plugins))

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        engine = engine_for(settings)
        await migrate.upgrade(engine)
        sessions = session_factory(engine)
        app.state.engine = engine
        app.state.probe_engine = probe_engine(settings.resolved_database_url)
        app.state.sessions = sessions
        # Scale-out mode: rate limits, the cache, room fan-out and identity changes go
        # through Redis; otherwise in-process twins behind the same interfaces.
        # With PostgreSQL, the shared cache's vector search is pgvector's.
        cache_index = (
            PgvectorIndex(sessions, settings.cache.ttl_seconds)
            if engine.dialect.name == "postgresql"
            else None
        )
        app.state.shared = shared = await build_shared_state(settings, cache_index=cache_index)
        app.state.identity = identity = build_identity(
            settings,
            sessions,
            shared.counters if shared else MemoryCounterStore(),
            shared.epoch if shared else None,
        )
        await bootstrap_first_owner(identity, settings)
        await registry.start()
        embedded_provider = registry.providers.get(EMBEDDED_BACKEND)
        if embedded_provider is not None and hasattr(embedded_provider, "queue_depth"):
            metrics.set_function(metrics.embedded_queue, lambda: embedded_provider.queue_depth)
        for backend_name in registry.providers:  # read at each scrape
            metrics.set_function(
                metrics.breaker_state.labels(backend_name), registry.breaker_reader(backend_name)
            )
        embedded = registry.providers.get(EMBEDDED_BACKEND)
        app.state.embedder = getattr(embedded, "embeddings", None)
        app.state.memory = memory = MemoryService(sessions, app.state.embedder)
        app.state.cache = ResponseCache(
            shared.cache
            if shared
            else MemoryCacheStore(settings.cache.max_entries, settings.cache.ttl_seconds),
            app.state.embedder,
            settings.cache,
            on_lookup=lambda status: metrics.cache_lookups.labels(status).inc(),
        )
        conversations = ConversationService(sessions)
        app.state.conversations = Conversations(
            conversations=conversations,
            agents=AgentService(sessions, registry),
            chat=ConversationChat(conversations, registry, memory=memory),
        )
        app.state.feedback = FeedbackService(sessions, conversations)
        bus: EventBus = shared.bus if shared else LocalBus()
        rooms = RoomService(sessions, bus)
        agent_sessions = AgentSessions(
            rooms, app.state.conversations.agents, registry, bus, settings.realtime
        )
        app.state.realtime = Realtime(
            rooms, Hub(bus, rooms.events_since), agent_sessions, settings.realtime
        )
        app.state.files = FileService(
            sessions, rooms, settings.data_dir / "files", settings.realtime.max_file_bytes
        )
        # Everything built so far lives as long as the process: keep the cyclic garbage
        # collector from walking it again and again under load.
        gc.collect()
        gc.freeze()
        try:
            yield
        finally:
            tracer_provider.shutdown()
            await agent_sessions.close()
            await rooms.journal.close()
            await bus.close()
            if shared is not None:
                await shared.close()
            await registry.close()
            await engine.dispose()
            await app.state.probe_engine.dispose()

    app = FastAPI(
        title="Universal AI Tools",
        version=__version__,
        lifespan=lifespan,
        description="OpenAI- and Ollama-compatible AI platform server.",
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.metrics = metrics
    app.state.tracer = tracer_of(tracer_provider)
    app.state.llm_observer = LlmObserver(metrics, app.state.tracer)
    app.state.plugins = plugins
    app.state.registry = registry
    install_error_handlers(app)
    app.include_router(health.router)
    app.include_router(auth_router.router)
    app.include_router(admin_router.router)
    app.include_router(credentials_router.router)
    app.include_router(openai_api.router)
    app.include_router(ollama_api.router)
    app.include_router(embeddings_api.router)
    app.include_router(cache_router.router)
    app.include_router(conversations_router.router)
    app.include_router(agents_router.router)
    app.include_router(memory_router.router)
    app.include_router(realtime_router.router)
    app.include_router(ws.router)
    _add_schema_routes(app)
    app.include_router(web_router.router)
    app.add_middleware(JsonByDefault)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_request_bytes)
    if settings.observability.enabled:
        app.add_middleware(ObservabilityMiddleware, metrics=metrics, tracer=app.state.tracer)
    return app


def _add_schema_routes(app: FastAPI) -> None:
    """The OpenAPI schema and its viewer, behind authentication like everything else."""

    @app.get("/openapi.json", include_in_schema=False)
    async def openapi(principal: PrincipalDep) -> dict[str, Any]:
        return app.openapi()

    @app.get("/docs", include_in_schema=False)
    async def docs(principal: PrincipalDep) -> HTMLResponse:
        return get_swagger_ui_html(openapi_url="/openapi.json", title=app.title)


def create_app_from_env() -> FastAPI:
    """The factory `uvicorn --factory` calls in each worker process."""
    return create_app(load_settings())
