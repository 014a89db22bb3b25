"""`RedisEpoch`: the identity epoch of `IdentityCache`, shared by every process through Redis.

`current()` and `bump()` are synchronous and cheap (they run on every request): the
epoch is a local value. `bump()` changes it at once and wakes a task that runs
INCR + PUBLISH in one script; every other process changes its local value when the
message arrives on its subscription. While this process cannot hear those messages
(Redis down, subscription not acknowledged yet) `current()` returns a new value on
every call, so the identity cache is always stale and every check reads the database;
a bump made meanwhile is published once Redis answers again. Correctness over speed.
"""

from __future__ import annotations

import asyncio
import contextlib
import os

from redis.asyncio import Redis

from universal_ai_tools.scaleout.link import RedisLink, RedisUnavailable, stop_tasks
from universal_ai_tools.scaleout.subscriber import Subscriber

BUMP = """
local value = redis.call('INCR', KEYS[1])
redis.call('PUBLISH', ARGV[1], ARGV[2] .. ':' .. value)
return value
"""


class RedisEpoch:
    def __init__(self, link: RedisLink, subscriber: Subscriber, name: str = "identity") -> None:
        self._link = link
        self._subscriber = subscriber
        self._key = link.key("epoch", name)
        self._channel = link.key("epoch", name, "bumps")
        self._origin = os.urandom(8).hex()
        self._script = link.client.register_script(BUMP)
        self._version = 0
        self._stale = 0
        self._wanted = asyncio.Event()  # a local bump waits to be published
        self._pusher: asyncio.Task[None] | None = None
        self._idle = asyncio.Event()  # nothing left to publish
        self._idle.set()
        self.published = 0  # bumps that reached Redis
        subscriber.listen(self._channel, self._on_message)

    @property
    def shared(self) -> bool:
        """Whether this process hears other processes' bumps now."""
        return self._subscriber.confirmed(self._channel)

    def current(self) -> tuple[int, int, int]:
        if self._subscriber.confirmed(self._channel):
            return (self._subscriber.generation, self._version, 0)
        self._stale += 1
        return (-1, self._stale, 0)

    def bump(self) -> None:
        self._version += 1
        self._wanted.set()
        self._idle.clear()
        if self._pusher is None:
            with contextlib.suppress(RuntimeError):  # no loop yet: `start` publishes it
                self.start()

    def start(self) -> None:
        """Start the subscription (if not yet) and the task that publishes bumps."""
        self._subscriber.start()
        if self._pusher is None:
            self._pusher = asyncio.get_running_loop().create_task(self._push())

    def _on_message(self, data: bytes) -> None:
        if not data.startswith(self._origin.encode()):
            self._version += 1

    async def _push(self) -> None:
        while True:
            await self._wanted.wait()
            self._wanted.clear()
            try:
                await self._link.run(self._publish)
            except RedisUnavailable:
                self._wanted.set()
                await asyncio.sleep(self._link.retry_interval)
                continue
            self.published += 1
            if not self._wanted.is_set():
                self._idle.set()

    async def _publish(self, client: Redis) -> None:
        await self._script(keys=[self._key], args=[self._channel, self._origin], client=client)

    async def settled(self, within: float | None = None) -> bool:
        """Wait until every local bump has been published (tests, shutdown)."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(within):
                await self._idle.wait()
                return True
        return False

    async def close(self) -> None:
        self._subscriber.unlisten(self._channel, self._on_message)
        if self._pusher is not None:
            await self.settled(self._link.timeout)
            await stop_tasks([self._pusher], self._link.timeout)
            self._pusher = None
