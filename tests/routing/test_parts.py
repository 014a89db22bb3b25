"""The resilience layer's parts on their own: breaker states, retry delays, the fair
queue's order and cancellations, coalescing's reader counting, context errors."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from universal_ai_tools.errors import BackendClientError, BackendError, BadRequest
from universal_ai_tools.llm.coalescing import Coalescer
from universal_ai_tools.llm.providers.base import BackendBusy, RateLimited
from universal_ai_tools.llm.resilience import (
    CircuitBreaker,
    FairGate,
    RetryPolicy,
    context_too_long,
    counts_against_breaker,
    retryable,
)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_breaker_state_machine() -> None:
    clock = Clock()
    breaker = CircuitBreaker(threshold=3, cooldown=10, clock=clock)
    for _ in range(2):
        breaker.failure("boom")
    breaker.success()  # a success in between resets the count: failures must be consecutive
    for _ in range(2):
        breaker.failure("boom")
    assert breaker.state == "closed" and breaker.allows()
    breaker.failure("boom")
    assert breaker.state == "open" and not breaker.allows() and breaker.transitions == 1
    clock.now += 10
    assert breaker.state == "half-open" and breaker.allows()
    assert breaker.begin() is True  # the probe
    assert not breaker.allows()  # one probe at a time
    breaker.failure("still down")
    assert breaker.state == "open" and breaker.last_error == "still down"
    clock.now += 10
    assert breaker.begin() is True
    breaker.abandon()  # cancelled probe: no verdict, another may try
    assert breaker.state == "half-open" and breaker.allows()
    breaker.begin()
    breaker.success()
    assert breaker.state == "closed" and breaker.failures == 0


def test_retry_delays_grow_with_jitter_and_honour_retry_after() -> None:
    policy = RetryPolicy(attempts=5, backoff_base=0.1, backoff_max=0.3, retry_after_cap=5)
    error = BackendError("500")
    for attempt, ceiling in ((1, 0.1), (2, 0.2), (3, 0.3), (4, 0.3)):
        for _ in range(50):
            delay = policy.delay(attempt, error)
            assert delay is not None and ceiling / 2 <= delay <= ceiling
    assert policy.delay(1, RateLimited("429", retry_after=2)) == 2
    assert policy.delay(1, RateLimited("429", retry_after=60)) is None  # beyond the cap
    assert policy.delay(1, RateLimited("429")) is not None  # no header: plain backoff


def test_what_is_retried_and_what_counts_against_the_breaker() -> None:
    assert retryable(BackendError("x")) and retryable(RateLimited("x"))
    assert not retryable(BackendClientError("x")) and not retryable(BadRequest("x"))
    assert counts_against_breaker(BackendError("x"))
    assert not counts_against_breaker(RateLimited("x"))
    assert not counts_against_breaker(BackendBusy("x"))


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("This model's maximum context length is 8192 tokens", True),
        ("prompt is too long: 210000 tokens > 200000 maximum", True),
        ("the input exceeds the context window", True),
        ("unknown parameter: logit_bias", False),
    ],
)
def test_context_errors_are_recognised(message: str, expected: bool) -> None:
    assert context_too_long(BackendClientError(message)) is expected
    assert context_too_long(BackendError(message)) is False  # only rejections count


async def test_fair_gate_serves_tenants_in_turn_and_survives_cancellations() -> None:
    gate = FairGate(limit=1)
    order: list[str] = []

    async def job(tenant: str, name: str) -> None:
        await gate.acquire(tenant)
        order.append(name)
        await asyncio.sleep(0.01)
        gate.release()

    await gate.acquire("a")  # hold the only slot while the queue fills
    tasks = [asyncio.create_task(job("a", f"a{i}")) for i in range(4)]
    await asyncio.sleep(0.01)
    tasks += [asyncio.create_task(job("b", f"b{i}")) for i in range(2)]
    tasks += [asyncio.create_task(job("c", "c0"))]
    await asyncio.sleep(0.01)
    assert gate.waiting == 7
    tasks[1].cancel()  # a1 gives up while waiting
    gate.release()
    await asyncio.gather(*tasks, return_exceptions=True)
    assert order == ["a0", "b0", "c0", "a2", "b1", "a3"]
    assert gate.active == 0 and gate.waiting == 0


async def test_a_shared_stream_stops_when_its_last_reader_leaves() -> None:
    coalescer = Coalescer()
    produced: list[int] = []
    closed = asyncio.Event()

    async def numbers() -> AsyncIterator[int]:
        try:
            for i in range(1000):
                produced.append(i)
                yield i
                await asyncio.sleep(0.01)
        finally:
            closed.set()

    first, _ = coalescer.stream("k", numbers, None)
    assert await anext(first) == 0
    await asyncio.sleep(0.05)
    second, _ = coalescer.stream("k", numbers, None)  # a late joiner starts from the start
    assert [await anext(second) for _ in range(3)] == [0, 1, 2]
    assert coalescer.shared == 1
    await first.aclose()  # type: ignore[attr-defined]
    assert not closed.is_set()  # one reader is left
    await second.aclose()  # type: ignore[attr-defined]
    await asyncio.wait_for(closed.wait(), 5)
    assert len(produced) < 1000
    third, _ = coalescer.stream("k", numbers, None)  # a new call, not the abandoned one
    assert await anext(third) == 0 and coalescer.shared == 1
    await third.aclose()  # type: ignore[attr-defined]
