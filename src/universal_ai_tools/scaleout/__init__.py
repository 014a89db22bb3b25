"""Scale-out mode: the shared state of many processes in Redis, behind the in-process interfaces.

`build_shared_state(settings)` returns `None` unless `settings.redis_url` is set; then it
returns the Redis-backed twins of the in-process pieces, sharing one connection pool and
one pub/sub connection:

| in process             | Redis                | used by                                       |
| ---------------------- | -------------------- | --------------------------------------------- |
| `LocalBus`             | `RedisBus`           | `Hub`, `RoomService`, `AgentSessions`         |
| `MemoryCounterStore`   | `RedisCounterStore`  | `build_identity` (rate limits, budgets, login) |
| `MemoryCacheStore`     | `RedisCacheStore`    | `ResponseCache`                               |
| `FileEpoch`            | `RedisEpoch`         | `IdentityCache`                               |

None of them raises when Redis is unreachable: the bus delivers in this process, counters
count locally, the cache misses and drops writes, the epoch keeps the identity cache stale;
all go back to Redis by themselves when it answers again.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from universal_ai_tools.cache.vectors import VectorIndex
from universal_ai_tools.scaleout.link import RedisLink, RedisUnavailable, redacted
from universal_ai_tools.scaleout.redis_bus import RedisBus
from universal_ai_tools.scaleout.redis_cache import RedisCacheStore
from universal_ai_tools.scaleout.redis_counters import RedisCounterStore
from universal_ai_tools.scaleout.redis_epoch import RedisEpoch
from universal_ai_tools.scaleout.subscriber import Subscriber
from universal_ai_tools.settings import Settings

__all__ = [
    "RedisBus",
    "RedisCacheStore",
    "RedisCounterStore",
    "RedisEpoch",
    "RedisLink",
    "RedisUnavailable",
    "SharedState",
    "Subscriber",
    "build_shared_state",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SharedState:
    link: RedisLink
    subscriber: Subscriber
    bus: RedisBus
    counters: RedisCounterStore
    cache: RedisCacheStore
    epoch: RedisEpoch

    @property
    def healthy(self) -> bool:
        """Redis answers and this process is subscribed (cheap: no round trip)."""
        return self.link.healthy and self.subscriber.connected

    async def ping(self) -> bool:
        """One round trip to Redis, for the readiness probe; never raises."""
        return await self.link.ping()

    async def close(self) -> None:
        """Stop the tasks and close the connections (idempotent)."""
        await self.bus.close()
        await self.epoch.close()
        await self.subscriber.close()
        await self.link.close()


async def build_shared_state(
    settings: Settings, *, connect_timeout: float = 2.0, cache_index: VectorIndex | None = None
) -> SharedState | None:
    """The Redis-backed shared state when `settings.redis_url` is set, else None.

    `cache_index` (pgvector when the database is PostgreSQL) replaces the cache's own
    NumPy search over the vectors kept in Redis.

    Waits up to `connect_timeout` seconds for the first connection; when Redis is not
    reachable yet the state is returned anyway, running on its local fallbacks until it is.
    """
    if not settings.redis_url:
        return None
    link = RedisLink(settings.redis_url, prefix=settings.redis_prefix)
    subscriber = Subscriber(link)
    epoch = RedisEpoch(link, subscriber)  # subscribes before the first connection
    state = SharedState(
        link=link,
        subscriber=subscriber,
        bus=RedisBus(link, subscriber),
        counters=RedisCounterStore(link),
        cache=RedisCacheStore(
            link, settings.cache.max_entries, settings.cache.ttl_seconds, index=cache_index
        ),
        epoch=epoch,
    )
    subscriber.start()
    epoch.start()
    if not await subscriber.ready(connect_timeout):
        logger.warning(
            "Redis at %s is not reachable yet; running on local fallbacks until it is",
            redacted(settings.redis_url),
        )
    return state
