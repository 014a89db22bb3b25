"""Counters and the policies on them, with an injected clock: nothing sleeps."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from universal_ai_tools.errors import UAITError
from universal_ai_tools.limits.base import (
    CounterStore,
    LoginThrottle,
    RateLimited,
    RequestRateLimiter,
    TokenBudget,
)
from universal_ai_tools.limits.memory import MemoryCounterStore

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


@pytest.fixture
def store(clock: FakeClock) -> MemoryCounterStore:
    return MemoryCounterStore(clock)


def test_memory_store_implements_the_protocol(store: MemoryCounterStore) -> None:
    assert isinstance(store, CounterStore)


def test_rate_limited_is_a_429_with_at_least_one_second() -> None:
    error = RateLimited(retry_after=0.2)
    assert isinstance(error, UAITError)
    assert (error.status_code, error.error_type, error.code) == (
        429,
        "rate_limit_error",
        "rate_limited",
    )
    assert error.retry_after == 1
    assert RateLimited(retry_after=0).retry_after == 1
    assert RateLimited(retry_after=41.3).retry_after == 42


async def test_hit_allows_the_limit_then_refuses_until_the_window_passes(
    store: MemoryCounterStore, clock: FakeClock
) -> None:
    assert [await store.hit("k", 3, 60) for _ in range(3)] == [None, None, None]
    wait = await store.hit("k", 3, 60)
    assert wait is not None
    assert 60 <= wait <= 61  # one window, plus at most one bucket (1 s for a minute)
    clock.advance(wait - 1)
    assert await store.hit("k", 3, 60) is not None
    clock.advance(1)
    assert await store.hit("k", 3, 60) is None


async def test_refused_hits_do_not_count(store: MemoryCounterStore, clock: FakeClock) -> None:
    await store.hit("k", 1, 60)
    for _ in range(50):
        assert await store.hit("k", 1, 60) is not None
    clock.advance(61)
    assert await store.hit("k", 1, 60) is None


async def test_the_window_slides(store: MemoryCounterStore, clock: FakeClock) -> None:
    await store.hit("k", 3, 60)
    await store.hit("k", 3, 60)
    clock.advance(30)
    await store.hit("k", 3, 60)
    clock.advance(31)  # the first two hits have left the window, the third has not
    assert await store.hit("k", 3, 60) is None
    assert await store.hit("k", 3, 60) is None
    wait = await store.hit("k", 3, 60)
    assert wait is not None and 29 <= wait <= 31


async def test_keys_and_windows_are_independent(store: MemoryCounterStore) -> None:
    assert await store.hit("a", 1, 60) is None
    assert await store.hit("b", 1, 60) is None
    assert await store.hit("a", 1, 10) is None
    assert await store.hit("a", 1, 60) is not None


async def test_zero_limit_and_bad_windows(store: MemoryCounterStore) -> None:
    assert await store.hit("k", 0, 60) == 60
    with pytest.raises(ValueError):
        await store.hit("k", 1, 0)
    with pytest.raises(ValueError):
        await store.add("k", 1, 0)


async def test_totals_reset_at_epoch_aligned_window_ends(
    store: MemoryCounterStore, clock: FakeClock
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


async def test_reset_clears_every_window_of_a_key(store: MemoryCounterStore) -> None:
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


async def test_request_rate_limiter(store: MemoryCounterStore, clock: FakeClock) -> None:
    limiter = RequestRateLimiter(store)
    for _ in range(100):
        await limiter.check("unlimited", None)
    await limiter.check("key-1", 2)
    await limiter.check("key-1", 2)
    with pytest.raises(RateLimited) as refused:
        await limiter.check("key-1", 2)
    assert 60 <= refused.value.retry_after <= 61
    assert refused.value.status_code == 429
    await limiter.check("key-2", 2)  # another scope has its own count
    clock.advance(refused.value.retry_after)
    await limiter.check("key-1", 2)


async def test_token_budget_runs_out_and_comes_back_at_midnight_utc(
    store: MemoryCounterStore, clock: FakeClock
) -> None:
    budget = TokenBudget(store)
    await budget.ensure_available("key-1", None)
    await budget.ensure_available("key-1", 1000)
    assert await budget.record("key-1", 600) == 600
    await budget.ensure_available("key-1", 1000)
    assert await budget.record("key-1", 500) == 1100  # a request in flight may overshoot
    assert await budget.used("key-1") == 1100
    with pytest.raises(RateLimited) as refused:
        await budget.ensure_available("key-1", 1000)
    assert refused.value.retry_after == 3600
    await budget.ensure_available("key-2", 1000)
    await budget.ensure_available("key-1", None)

    clock.advance(1800)
    with pytest.raises(RateLimited) as refused:
        await budget.ensure_available("key-1", 1000)
    assert refused.value.retry_after == 1800
    clock.advance(1800)
    assert await budget.used("key-1") == 0
    await budget.ensure_available("key-1", 1000)


async def test_token_budget_refuses_at_exactly_the_limit(store: MemoryCounterStore) -> None:
    budget = TokenBudget(store)
    await budget.record("k", 1000)
    with pytest.raises(RateLimited):
        await budget.ensure_available("k", 1000)


async def test_login_throttle_per_account(store: MemoryCounterStore, clock: FakeClock) -> None:
    throttle = LoginThrottle(store, per_account=5, per_address=20, window_seconds=300)
    for attempt in range(5):
        await throttle.check("alice@example.com", f"10.0.0.{attempt}")
        await throttle.failed("Alice@Example.com", f"10.0.0.{attempt}")
    with pytest.raises(RateLimited) as refused:
        await throttle.check("ALICE@example.com", "10.0.0.99")
    assert refused.value.retry_after == 300
    await throttle.check("bob@example.com", "10.0.0.1")  # the addresses are still fine
    clock.advance(300)
    await throttle.check("alice@example.com", "10.0.0.99")


async def test_login_throttle_per_address(store: MemoryCounterStore) -> None:
    throttle = LoginThrottle(store, per_account=5, per_address=20, window_seconds=300)
    for attempt in range(20):
        await throttle.failed(f"user{attempt}@example.com", "192.0.2.7")
    with pytest.raises(RateLimited):
        await throttle.check("someone-new@example.com", "192.0.2.7")
    await throttle.check("someone-new@example.com", "192.0.2.8")
    await throttle.succeeded("user0@example.com")  # clears that account, not the address
    with pytest.raises(RateLimited):
        await throttle.check("user0@example.com", "192.0.2.7")


async def test_login_success_clears_the_account(store: MemoryCounterStore) -> None:
    throttle = LoginThrottle(store)
    for _ in range(5):
        await throttle.failed("carol@example.com", "198.51.100.1")
    with pytest.raises(RateLimited):
        await throttle.check("carol@example.com", "198.51.100.2")
    await throttle.succeeded("Carol@example.com")
    await throttle.check("carol@example.com", "198.51.100.2")


async def test_login_checks_are_not_failures(store: MemoryCounterStore) -> None:
    throttle = LoginThrottle(store, per_account=2, per_address=2)
    for _ in range(100):
        await throttle.check("dave@example.com", "203.0.113.5")


async def test_concurrent_hits_let_exactly_the_limit_through(store: MemoryCounterStore) -> None:
    results = await asyncio.gather(*(store.hit("busy", 10, 60) for _ in range(100)))
    assert sum(result is None for result in results) == 10
    assert all(result is not None and result >= 1 for result in results[10:])


async def test_concurrent_requests_through_the_limiter(store: MemoryCounterStore) -> None:
    limiter = RequestRateLimiter(store)
    results = await asyncio.gather(
        *(limiter.check("busy", 10) for _ in range(100)), return_exceptions=True
    )
    assert sum(result is None for result in results) == 10
    assert sum(isinstance(result, RateLimited) for result in results) == 90


async def test_expired_entries_are_pruned(store: MemoryCounterStore, clock: FakeClock) -> None:
    for number in range(1000):
        await store.hit(f"client-{number}", 5, 60)
        await store.add(f"minute-{number}", 1, 60)
    await store.add("day", 1, 86_400)
    assert len(store) == 2001
    clock.advance(62)  # past every minute entry's last bucket plus a window
    await store.get("anything", 60)
    assert len(store) == 1
    assert await store.get("day", 86_400) == 1


async def test_the_store_never_holds_more_than_max_keys(clock: FakeClock) -> None:
    store = MemoryCounterStore(clock, max_keys=100)
    for number in range(250):
        clock.advance(0.01)
        assert await store.hit(f"client-{number}", 1, 60) is None
        assert len(store) <= 100
    assert await store.hit("client-0", 1, 60) is None  # the oldest was evicted
    assert await store.hit("client-249", 1, 60) is not None  # the newest is still counted
    assert len(store) == 100


async def test_eviction_spans_kinds_and_windows(clock: FakeClock) -> None:
    store = MemoryCounterStore(clock, max_keys=3)
    await store.add("oldest", 1, 86_400)
    clock.advance(1)
    await store.hit("a", 1, 60)
    await store.add("b", 1, 300)
    await store.hit("c", 1, 10)
    assert len(store) == 3
    assert await store.get("oldest", 86_400) == 0
    assert await store.get("b", 300) == 1
