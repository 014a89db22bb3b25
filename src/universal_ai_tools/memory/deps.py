"""`MemoryDep`: the app's `MemoryService`, for the routes of any feature."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends
from starlette.requests import Request

from universal_ai_tools.memory.service import MemoryService


async def get_memory(request: Request) -> MemoryService:
    service: MemoryService = request.app.state.memory
    return service


MemoryDep = Annotated[MemoryService, Depends(get_memory)]
