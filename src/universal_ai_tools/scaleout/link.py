"""`RedisLink`: one connection pool per process, a time bound on every call, and health.

Every Redis call of the scale-out stores goes through `RedisLink.run`, which bounds it by
`timeout` seconds and turns any failure into `RedisUnavailable`, so that callers fall
back to local behaviour instead of raising into request handling. After a connection
failure the link is *down*: calls fail at once, without touching the network, except one
probe every `retry_interval` seconds; the first call that succeeds brings it back *up*.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

from redis.asyncio import BlockingConnectionPool, ConnectionPool, Redis
from redis.asyncio.client import PubSub
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

logger = logging.getLogger(__name__)

T = TypeVar("T")
Operation = Callable[["Redis"], Awaitable[T]]

# Errors that say the server cannot be reached (as opposed to a refused command).
UNREACHABLE: tuple[type[BaseException], ...] = (
    RedisConnectionError,
    RedisTimeoutError,
    OSError,
    TimeoutError,
)


class RedisUnavailable(Exception):
    """Redis did not answer (down, unreachable, too slow, or it refused the command)."""


def raise_if_cancelled(error: BaseException | None = None) -> None:
    """Raise `CancelledError` if the current task is being cancelled.

    redis-py (8.1) sometimes swallows a cancellation that lands in a socket read (the
    read simply completes) or turns one that lands in a write into a `ConnectionError`;
    a loop that went on after either would never stop. Call this after each Redis call.
    """
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError() from error


async def stop_tasks(tasks: Iterable[asyncio.Task[Any] | None], within: float) -> None:
    """Cancel the tasks and wait for them, `within` seconds at most (never hangs a shutdown)."""
    running = [task for task in tasks if task is not None and not task.done()]
    for task in running:
        task.cancel()
    if running:
        await asyncio.wait(running, timeout=within)


def redacted(url: str) -> str:
    """The URL without its password, for logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    user = f"{parts.username}:***@" if parts.username else "***@"
    return urlunsplit((parts.scheme, user + host, parts.path, parts.query, parts.fragment))


class RedisLink:
    """The client (a pool made from the URL) and the up/down state shared by the stores."""

    def __init__(
        self,
        url: str,
        *,
        prefix: str = "uait:",
        timeout: float = 1.0,
        connect_timeout: float = 0.5,
        retry_interval: float = 1.0,
        max_connections: int = 128,
    ) -> None:
        self.url = url
        self.prefix = prefix
        self.timeout = timeout
        self.retry_interval = retry_interval
        options: dict[str, Any] = {
            "socket_timeout": timeout,
            "socket_connect_timeout": connect_timeout,
            "retry_on_timeout": False,
            "decode_responses": False,
        }
        # One immediate retry on a connection error, on a new connection: a pooled
        # connection that went stale while Redis restarted must not count as an outage.
        # A timeout is never retried: the caller falls back at once.
        self.pool: BlockingConnectionPool = BlockingConnectionPool.from_url(
            url,
            max_connections=max_connections,
            timeout=timeout,
            retry=Retry(NoBackoff(), 1, (RedisConnectionError,)),
            **options,
        )
        self.client: Redis = Redis(connection_pool=self.pool)
        # The subscription connection never retries by itself (redis-py would reconnect
        # and subscribe again behind our back): `Subscriber` must see every reconnection.
        self._pubsub_pool: ConnectionPool = ConnectionPool.from_url(
            url, max_connections=4, retry=Retry(NoBackoff(), 0), **options
        )
        self._pubsub_client: Redis = Redis(connection_pool=self._pubsub_pool)
        self._up = True
        self._next_probe = 0.0
        self.failures = 0  # transitions to down, for metrics and tests

    @property
    def healthy(self) -> bool:
        """False from a connection failure until the next successful call."""
        return self._up

    def pubsub(self) -> PubSub:
        """A new pub/sub connection (on its own pool, without automatic retries)."""
        return self._pubsub_client.pubsub()

    def key(self, *parts: str) -> str:
        return self.prefix + ":".join(parts)

    def _may_try(self) -> bool:
        if self._up:
            return True
        now = time.monotonic()
        if now < self._next_probe:
            return False
        self._next_probe = now + self.retry_interval  # one probe per interval, not a stampede
        return True

    def mark_down(self, error: BaseException) -> None:
        self._next_probe = time.monotonic() + self.retry_interval
        if self._up:
            self._up = False
            self.failures += 1
            logger.warning(
                "Redis at %s is unreachable (%s); using local fallbacks until it is back",
                redacted(self.url),
                error.__class__.__name__,
            )

    def mark_up(self) -> None:
        if not self._up:
            self._up = True
            logger.warning("Redis at %s is reachable again", redacted(self.url))

    async def run(self, operation: Operation[T]) -> T:
        """Run `operation(client)` within `timeout`; raise `RedisUnavailable` on any failure."""
        if not self._may_try():
            raise RedisUnavailable("Redis is down")
        try:
            async with asyncio.timeout(self.timeout):
                result = await operation(self.client)
        except UNREACHABLE as error:
            raise_if_cancelled(error)
            self.mark_down(error)
            raise RedisUnavailable(str(error) or error.__class__.__name__) from error
        except RedisError as error:
            raise_if_cancelled(error)
            logger.error("Redis refused a command: %s", error)
            raise RedisUnavailable(str(error)) from error
        raise_if_cancelled()
        self.mark_up()
        return result

    async def ping(self) -> bool:
        """Whether Redis answers now (for readiness probes); never raises."""
        try:
            await self.run(lambda client: client.ping())
        except RedisUnavailable:
            return False
        return True

    async def close(self) -> None:
        for client, pool in ((self.client, self.pool), (self._pubsub_client, self._pubsub_pool)):
            with contextlib.suppress(RedisError, OSError):
                await client.aclose()
                await pool.disconnect()
