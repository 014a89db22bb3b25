"""Fixtures of the identity tests: a real app per test, reached over ASGI."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack

import pytest

from tests.auth.helpers import OWNER_EMAIL, OWNER_PASSWORD, Running, Session, log_in, start_app
from universal_ai_tools.settings import Settings

Start = Callable[[Settings], Awaitable[Running]]


@pytest.fixture
async def start() -> AsyncIterator[Start]:
    """Start the real app (lifespan included) for settings built inside the test."""
    async with AsyncExitStack() as stack:

        async def run(settings: Settings) -> Running:
            return await start_app(settings, stack)

        yield run


@pytest.fixture
async def running(start: Start, settings: Settings) -> Running:
    return await start(settings)


@pytest.fixture
async def owner(running: Running) -> Session:
    """The first owner's session (an instance administrator)."""
    return await log_in(running.http, OWNER_EMAIL, OWNER_PASSWORD)
