"""Dependency providers of the gateway."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends
from starlette.requests import Request

from universal_ai_tools.llm.routing import ModelRegistry


async def get_registry(request: Request) -> ModelRegistry:
    registry: ModelRegistry = request.app.state.registry
    return registry


RegistryDep = Annotated[ModelRegistry, Depends(get_registry)]
