"""The parts of the resilience layer that know nothing of models: the circuit breaker,
the retry policy, the per-organization fair queue and the classification of failures.

`llm/dispatch.py` puts them together around every backend call.
"""

from __future__ import annotations

import asyncio
import contextvars
import random
import re
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from universal_ai_tools.errors import (
    BackendClientError,
    BackendError,
    BackendUnavailable,
    BadRequest,
)
from universal_ai_tools.llm.providers.base import BackendBusy, RateLimited
from universal_ai_tools.settings import RoutingSettings

BreakerState = Literal["closed", "open", "half-open"]
Clock = Callable[[], float]

# The organization a request is made for: the fair queue serves organizations in turn.
current_tenant: contextvars.ContextVar[str] = contextvars.ContextVar("uait_tenant", default="")

_CONTEXT_TOO_LONG = re.compile(
    r"context[ _-]?(length|window|size)|maximum context|too many tokens|prompt is too long"
    r"|input is too long|too long for|exceeds? (the )?(max|context|token)|token limit",
    re.IGNORECASE,
)


def retryable(exc: BaseException) -> bool:
    """Connect errors, timeouts, 429 and 5xx are worth another try; 4xx never are."""
    return isinstance(exc, BackendUnavailable | BackendError)


def counts_against_breaker(exc: BaseException) -> bool:
    """A backend that rate-limits or has a full queue is alive: it is cooled down, not cut."""
    return retryable(exc) and not isinstance(exc, RateLimited | BackendBusy)


def context_too_long(exc: BaseException) -> bool:
    """The backend (or the embedded model) rejected the prompt as too long for its context."""
    if getattr(exc, "code", None) == "context_length_exceeded":
        return True
    if isinstance(exc, BackendClientError | BadRequest):
        return bool(_CONTEXT_TOO_LONG.search(exc.message))
    return False


class CircuitBreaker:
    """closed → open after `threshold` consecutive failures → half-open after `cooldown`
    (one probe at a time) → closed when a probe succeeds, open again when it fails."""

    def __init__(self, threshold: int, cooldown: float, clock: Clock = time.monotonic) -> None:
        self.threshold = threshold
        self.cooldown = cooldown
        self.clock = clock
        self.failures = 0
        self.opened_at: float | None = None
        self.probing = False
        self.last_error = ""
        self.transitions = 0  # times it opened, for metrics

    @property
    def state(self) -> BreakerState:
        if self.opened_at is None:
            return "closed"
        if self.clock() - self.opened_at >= self.cooldown:
            return "half-open"
        return "open"

    def allows(self) -> bool:
        state = self.state
        return state == "closed" or (state == "half-open" and not self.probing)

    def begin(self) -> bool:
        """Called when a request is sent; True when that request is the half-open probe."""
        if self.state == "half-open":
            self.probing = True
            return True
        return False

    def success(self) -> None:
        self.failures = 0
        self.opened_at = None
        self.probing = False

    def failure(self, error: str) -> None:
        self.last_error = error
        self.probing = False
        if self.opened_at is not None:  # a failed probe (or a straggler): open again
            self.opened_at = self.clock()
            return
        self.failures += 1
        if self.failures >= self.threshold:
            self.opened_at = self.clock()
            self.transitions += 1

    def abandon(self) -> None:
        """The probe ended without a verdict (cancelled, or a client error)."""
        self.probing = False


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    attempts: int
    backoff_base: float
    backoff_max: float
    retry_after_cap: float

    @classmethod
    def from_settings(cls, settings: RoutingSettings) -> RetryPolicy:
        return cls(
            settings.attempts,
            settings.backoff_base,
            settings.backoff_max,
            settings.retry_after_cap,
        )

    def delay(self, attempt: int, exc: BaseException) -> float | None:
        """Seconds to wait before retrying the same deployment after `attempt` (1-based)
        failed with `exc`; None when it asked for longer than we are willing to wait."""
        retry_after: float | None = exc.retry_after if isinstance(exc, RateLimited) else None
        if retry_after is not None:
            return retry_after if retry_after <= self.retry_after_cap else None
        ceiling = min(self.backoff_max, self.backoff_base * 2.0 ** (attempt - 1))
        return ceiling * (0.5 + random.random() / 2)  # "equal jitter": never zero, never more


class FairGate:
    """At most `limit` requests at once; the rest wait in one queue per organization, and a
    freed slot goes to the organizations in turn (round-robin), so one flooding tenant
    cannot starve the others."""

    def __init__(self, limit: int | None) -> None:
        self.limit = limit
        self.active = 0
        self._queues: dict[str, deque[asyncio.Future[None]]] = {}

    @property
    def waiting(self) -> int:
        return sum(len(q) for q in self._queues.values())

    async def acquire(self, tenant: str) -> None:
        if self.limit is None:
            return
        if self.active < self.limit and not self._queues:
            self.active += 1
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queues.setdefault(tenant, deque()).append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self.release()  # the slot was handed over just as we gave up: pass it on
            else:
                self._forget(tenant, waiter)
            raise

    def release(self) -> None:
        if self.limit is None:
            return
        while self._queues:
            tenant, queue = next(iter(self._queues.items()))
            waiter = queue.popleft()
            del self._queues[tenant]
            if queue:  # the organization goes to the back of the line
                self._queues[tenant] = queue
            if not waiter.done():
                waiter.set_result(None)  # the slot changes hands; `active` stays
                return
        self.active -= 1

    def _forget(self, tenant: str, waiter: asyncio.Future[None]) -> None:
        queue = self._queues.get(tenant)
        if queue is None:
            return
        try:
            queue.remove(waiter)
        except ValueError:
            return
        if not queue:
            del self._queues[tenant]
