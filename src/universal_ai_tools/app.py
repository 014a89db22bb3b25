"""`create_app(settings)`: the one place that assembles routers, middleware and lifespan."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI

from universal_ai_tools import __version__
from universal_ai_tools.auth.gate import require_api_key
from universal_ai_tools.db import migrate
from universal_ai_tools.db.engine import create_engine, session_factory
from universal_ai_tools.edge import BodySizeLimit, install_error_handlers
from universal_ai_tools.llm import ollama_api, openai_api
from universal_ai_tools.llm.plugins import build_plugin_manager, provider_factories
from universal_ai_tools.llm.routing import ModelRegistry
from universal_ai_tools.observability import health
from universal_ai_tools.settings import Settings, load_settings


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or load_settings()
    plugins = build_plugin_manager()
    registry = ModelRegistry(settings, provider_factories(plugins))

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        engine = create_engine(settings.resolved_database_url)
        await migrate.upgrade(engine)
        app.state.engine = engine
        app.state.sessions = session_factory(engine)
        await registry.start()
        # Everything built so far lives as long as the process: keep the cyclic garbage
        # collector from walking it again and again under load.
        gc.collect()
        gc.freeze()
        try:
            yield
        finally:
            await registry.close()
            await engine.dispose()

    app = FastAPI(
        title="Universal AI Tools",
        version=__version__,
        lifespan=lifespan,
        description="OpenAI- and Ollama-compatible AI platform server.",
    )
    app.state.settings = settings
    app.state.plugins = plugins
    app.state.registry = registry
    install_error_handlers(app)
    gated = [Depends(require_api_key)]
    app.include_router(health.router)
    app.include_router(openai_api.router, dependencies=gated)
    app.include_router(ollama_api.router, dependencies=gated)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_request_bytes)
    return app


def create_app_from_env() -> FastAPI:
    """The factory `uvicorn --factory` calls in each worker process."""
    return create_app(load_settings())
