"""The counter store: the same cases against `MemoryCounterStore` and `RedisCounterStore`,
with the same injected clock; then what only the Redis store does (sharing, outages)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from tests.scaleout.conftest import BACKENDS, Links
from tests.scaleout.redis_server import RedisServer

from universal_ai_tools.limits.base import (
    CounterStore,
    LoginThrottle,
    RateLimited,
    RequestRateLimiter,
    TokenBudget,
)
from universal_ai_tools.limits.memory import MemoryCounterStore
from universal_ai_tools.scaleout.redis_counters import RedisCounterStore

# 23:00:00 UTC: on a minute and a five-minute boundary, an hour before the daily reset.
START = datetime(2024, 1, 1, 23, 0, tzinfo=UTC).timestamp()


class FakeClock:
    def __init__(self, now: float = START) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, clock: FakeClock) -> CounterStore:
    if request.param == "memory":
        return MemoryCounterStore(clock)
    links: Links = request.getfixturevalue("links")
    return RedisCounterStore(links.link(), clock)


async def test_implements_the_protocol(store: CounterStore) -> None:
    assert isinstance(store, CounterStore)


async def test_hit_allows_the_limit_then_refuses_until_the_window_passes(
    store: CounterStore, clock: FakeClock
) -> None:
    assert [await store.hit("k", 3, 60) for _ in range(3)] == [None, None, None]
    wait = await store.hit("k", 3, 60)
    assert wait is not None and 60 <= wait <= 61
    clock.advance(wait - 1)
    assert await store.hit("k", 3, 60) is not None
    clock.advance(1)
    assert await store.hit("k", 3, 60) is None


async def test_refused_hits_do_not_count(store: CounterStore, clock: FakeClock) -> None:
    await store.hit("k", 1, 60)
    for _ in range(50):
        assert await store.hit("k", 1, 60) is not None
    clock.advance(61)
    assert await store.hit("k", 1, 60) is None


async def test_the_window_slides(store: CounterStore, clock: FakeClock) -> None:
    await store.hit("k", 3, 60)
    await store.hit("k", 3, 60)
    clock.advance(30)
    await store.hit("k", 3, 60)
    clock.advance(31)  # the first two hits have left the window, the third has not
    assert await store.hit("k", 3, 60) is None
    assert await store.hit("k", 3, 60) is None
    wait = await store.hit("k", 3, 60)
    assert wait is not None and 29 <= wait <= 31


async def test_waits_match_between_stores(clock: FakeClock, store: CounterStore) -> None:
    """A fixed script of hits gives exactly these answers (the same for both stores)."""
    answers = []
    for step in range(40):
        answers.append(await store.hit("script", 5, 10))
        clock.advance(0.7 + (step % 3) * 0.4)
    assert answers == [
        None, None, None, None, None, 6, 4, 3, 2, 1,
        None, None, None, None, None, 5, 4, 3, 1, 1,
        None, None, None, None, None, 5, 4, 2, 2, 1,
        None, None, None, None, None, 5, 4, 3, 2, 1,
    ]  # fmt: skip


async def test_a_clock_stepping_back_counts_in_the_newest_bucket(
    store: CounterStore, clock: FakeClock
) -> None:
    assert await store.hit("k", 2, 60) is None
    clock.advance(-30)
    assert await store.hit("k", 2, 60) is None
    wait = await store.hit("k", 2, 60)
    assert wait is not None and 90 <= wait <= 91  # both hits sit in the later bucket


async def test_keys_and_windows_are_independent(store: CounterStore) -> None:
    assert await store.hit("a", 1, 60) is None
    assert await store.hit("b", 1, 60) is None
    assert await store.hit("a", 1, 10) is None
    assert await store.hit("a", 1, 60) is not None


async def test_zero_limit_and_bad_windows(store: CounterStore) -> None:
    assert await store.hit("k", 0, 60) == 60
    with pytest.raises(ValueError):
        await store.hit("k", 1, 0)
    with pytest.raises(ValueError):
        await store.add("k", 1, 0)
    with pytest.raises(ValueError):
        await store.get("k", 0)


async def test_totals_reset_at_epoch_aligned_window_ends(
    store: CounterStore, clock: FakeClock
) -> None:
    assert store.seconds_until_reset(86_400) == 3600
    assert store.seconds_until_reset(60) == 60
    assert await store.add("t", 5, 86_400) == 5
    assert await store.add("t", 7, 86_400) == 12
    clock.advance(3599.5)
    assert await store.get("t", 86_400) == 12
    assert store.seconds_until_reset(86_400) == 1
    clock.advance(0.5)  # 00:00 UTC
    assert await store.get("t", 86_400) == 0
    assert store.seconds_until_reset(86_400) == 86_400
    assert await store.add("t", 1, 86_400) == 1


async def test_reset_clears_every_window_of_a_key(store: CounterStore) -> None:
    await store.add("k", 3, 60)
    await store.add("k", 4, 300)
    await store.hit("k", 1, 60)
    await store.add("other", 1, 60)
    await store.reset("k")
    assert await store.get("k", 60) == 0
    assert await store.get("k", 300) == 0
    assert await store.hit("k", 1, 60) is None
    assert await store.get("other", 60) == 1
    await store.reset("never-seen")


async def test_request_rate_limiter(store: CounterStore, clock: FakeClock) -> None:
    limiter = RequestRateLimiter(store)
    for _ in range(20):
        await limiter.check("unlimited", None)
    await limiter.check("key-1", 2)
    await limiter.check("key-1", 2)
    with pytest.raises(RateLimited) as refused:
        await limiter.check("key-1", 2)
    assert 60 <= refused.value.retry_after <= 61
    await limiter.check("key-2", 2)
    clock.advance(refused.value.retry_after)
    await limiter.check("key-1", 2)


async def test_token_budget_runs_out_and_comes_back_at_midnight_utc(
    store: CounterStore, clock: FakeClock
) -> None:
    budget = TokenBudget(store)
    await budget.ensure_available("key-1", 1000)
    assert await budget.record("key-1", 600) == 600
    assert await budget.record("key-1", 500) == 1100
    with pytest.raises(RateLimited) as refused:
        await budget.ensure_available("key-1", 1000)
    assert refused.value.retry_after == 3600
    await budget.ensure_available("key-2", 1000)
    clock.advance(3600)
    assert await budget.used("key-1") == 0
    await budget.ensure_available("key-1", 1000)


async def test_login_throttle(store: CounterStore, clock: FakeClock) -> None:
    throttle = LoginThrottle(store, per_account=3, per_address=5, window_seconds=300)
    for attempt in range(3):
        await throttle.check("alice@example.com", f"10.0.0.{attempt}")
        await throttle.failed("Alice@Example.com", f"10.0.0.{attempt}")
    with pytest.raises(RateLimited) as refused:
        await throttle.check("ALICE@example.com", "10.0.0.99")
    assert refused.value.retry_after == 300
    for attempt in range(5):
        await throttle.failed(f"user{attempt}@example.com", "192.0.2.7")
    with pytest.raises(RateLimited):
        await throttle.check("someone@example.com", "192.0.2.7")
    await throttle.succeeded("alice@example.com")
    await throttle.check("alice@example.com", "10.0.0.99")
    clock.advance(300)
    await throttle.check("someone@example.com", "192.0.2.7")


async def test_concurrent_hits_let_exactly_the_limit_through(store: CounterStore) -> None:
    results = await asyncio.gather(*(store.hit("busy", 10, 60) for _ in range(100)))
    assert sum(result is None for result in results) == 10
    assert all(result is None or result >= 1 for result in results)


# -- Redis only ----------------------------------------------------------------------------


async def test_processes_share_their_counters(links: Links, clock: FakeClock) -> None:
    first = RedisCounterStore(links.link(), clock)
    second = RedisCounterStore(links.link(), clock)
    results = await asyncio.gather(
        *(store.hit("shared", 10, 60) for _ in range(30) for store in (first, second))
    )
    assert sum(result is None for result in results) == 10
    await first.add("tokens", 5, 86_400)
    assert await second.add("tokens", 7, 86_400) == 12
    await second.reset("tokens")
    assert await first.get("tokens", 86_400) == 0


async def test_counters_expire_in_redis(links: Links, redis: RedisServer) -> None:
    link = links.link()
    store = RedisCounterStore(link)  # the real clock: Redis's TTLs follow it
    await store.hit("k", 5, 60)
    ttl = int(await link.client.pttl("uait:ctr:k"))
    assert 60_000 <= ttl <= 62_000
    await store.add("k", 1, 86_400)
    assert int(await link.client.pttl("uait:ctr:k")) > 62_000  # the longest window wins
    await store.reset("k")
    assert await link.client.exists("uait:ctr:k") == 0


async def test_an_outage_falls_back_to_local_limits_and_recovers(
    links: Links, redis: RedisServer, clock: FakeClock
) -> None:
    store = RedisCounterStore(links.link(), clock)
    other = RedisCounterStore(links.link(), clock)
    assert await store.hit("k", 2, 60) is None
    with redis.outage():
        assert await store.hit("k", 2, 60) is None  # local count starts afresh: 1 of 2
        assert await store.hit("k", 2, 60) is None
        assert await store.hit("k", 2, 60) is not None  # the local limit holds
        assert await store.add("t", 3, 60) == 3
        assert await store.get("t", 60) == 3
        await store.reset("t")
        assert not store.healthy
    # Redis is back, empty: the next calls go to it again once the retry interval passed.
    await asyncio.sleep(0.15)
    assert await store.hit("k", 2, 60) is None
    assert store.healthy
    assert await other.hit("k", 2, 60) is None
    assert await store.hit("k", 2, 60) is not None  # shared again
