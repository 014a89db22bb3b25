"""Fixtures of the scale-out tests: one real redis-server per session, emptied per test.

The same behavioural tests run against the in-process implementations (`memory`) and
the Redis ones (`redis`); only the `redis` cases need redis-server, and they are skipped
with a clear reason when it is not installed.
"""

from __future__ import annotations

import asyncio
import shutil
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest
from tests.scaleout.redis_server import RedisServer

from universal_ai_tools.scaleout.link import RedisLink
from universal_ai_tools.scaleout.subscriber import Subscriber

NO_REDIS = (
    "redis-server is not on PATH: install it (Debian: apt-get install redis-server) "
    "to run the Redis cases of the scale-out tests"
)
BACKENDS = ["memory", "redis"]


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    if shutil.which("redis-server") is None:
        pytest.skip(NO_REDIS)
    server = RedisServer(Path(tmp_path_factory.mktemp("redis")))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def redis(redis_server: RedisServer) -> RedisServer:
    """The session's server, running (a failed outage test may have left it down), empty."""
    redis_server.start()
    redis_server.flush()
    return redis_server


class Links:
    """Makes links and subscribers ("processes") with short timeouts; closes them all."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.links: list[RedisLink] = []
        self.subscribers: list[Subscriber] = []

    def link(self) -> RedisLink:
        link = RedisLink(self.url, timeout=0.5, connect_timeout=0.25, retry_interval=0.1)
        self.links.append(link)
        return link

    def subscriber(self, link: RedisLink) -> Subscriber:
        subscriber = Subscriber(link, ping_interval=0.2, max_backoff=0.2)
        self.subscribers.append(subscriber)
        return subscriber

    async def close(self) -> None:
        for subscriber in self.subscribers:
            await subscriber.close()
        for link in self.links:
            await link.close()


@pytest.fixture
async def links(redis: RedisServer) -> AsyncIterator[Links]:
    made = Links(redis.url)
    try:
        yield made
    finally:
        await made.close()


async def eventually(check: Callable[[], bool], within: float = 10.0) -> None:
    """Wait until `check()` is true; fail after `within` seconds."""
    deadline = time.monotonic() + within
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.02)
