"""The counter-store protocol, the `RateLimited` error and the policies built on a store.

Two kinds of counter live behind `CounterStore`:

- Request counters (`hit`) use a sliding window made of `SLIDING_BUCKETS` sub-window
  buckets. A hit counts from the moment it is made until the end of its bucket plus one
  window, so it stays counted for between `window` and `window + window / SLIDING_BUCKETS`
  seconds: no true window of `window` seconds ever holds more than `limit` counted hits,
  and memory per key is bounded by the bucket count, not by the limit.
- Totals (`add`/`get`) use fixed windows aligned to the Unix epoch, so a daily window
  resets at 00:00 UTC and every process (and a Redis store) agrees on the boundaries.

The policies (`RequestRateLimiter`, `TokenBudget`, `LoginThrottle`) keep no state of
their own: with a shared store they hold across processes.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Protocol, TypeAlias, runtime_checkable

from universal_ai_tools.errors import UAITError

Clock: TypeAlias = Callable[[], float]
"""Seconds since the Unix epoch (`time.time` by default); tests inject their own."""

SLIDING_BUCKETS = 60
"""Buckets per sliding window: the precision of `hit` is `window / SLIDING_BUCKETS`."""

MINUTE = 60
DAY = 86_400


class RateLimited(UAITError):
    """Too many requests, tokens or failures; retry after `retry_after` seconds (at least 1).

    The HTTP layer sends `retry_after` as the `Retry-After` header.
    """

    status_code = 429
    error_type = "rate_limit_error"
    code = "rate_limited"

    def __init__(
        self, message: str = "Rate limit reached.", *, retry_after: float, code: str | None = None
    ) -> None:
        super().__init__(message, code=code)
        self.retry_after: int = max(1, math.ceil(retry_after))


def seconds_until(now: float, moment: float) -> int:
    """Whole seconds from `now` until `moment`, rounded up, at least 1."""
    return max(1, math.ceil(moment - now))


def fixed_window_end(now: float, window_seconds: int) -> float:
    """The end of the epoch-aligned window of `window_seconds` that contains `now`."""
    return (math.floor(now / window_seconds) + 1) * window_seconds


def check_window(window_seconds: int) -> None:
    if window_seconds < 1:
        raise ValueError(f"window_seconds must be at least 1, not {window_seconds}")


@runtime_checkable
class CounterStore(Protocol):
    """Counters shared by everything that limits: in process, or in Redis when scaled out.

    Every check-and-count is atomic: concurrent callers can never both take the last slot.
    """

    async def hit(self, key: str, limit: int, window_seconds: int) -> int | None:
        """Count one hit if fewer than `limit` are counted in the sliding window; return None.

        Otherwise count nothing and return the whole seconds (at least 1) until a hit would
        be allowed.
        """
        ...

    async def add(self, key: str, amount: int, window_seconds: int) -> int:
        """Add `amount` to the total of the current epoch-aligned window; return the new total."""
        ...

    async def get(self, key: str, window_seconds: int) -> int:
        """The total of the current epoch-aligned window (0 once it has reset)."""
        ...

    def seconds_until_reset(self, window_seconds: int) -> int:
        """Whole seconds (at least 1) until the current epoch-aligned window ends."""
        ...

    async def reset(self, key: str) -> None:
        """Forget every counter stored under `key`, whatever its window."""
        ...


class RequestRateLimiter:
    """Requests per minute per scope (an API key, a user, an address)."""

    def __init__(self, store: CounterStore) -> None:
        self._store = store

    async def check(self, scope: str, limit_per_minute: int | None) -> None:
        """Count one request for `scope`; raise `RateLimited` if the limit is reached."""
        if limit_per_minute is None:
            return
        wait = await self._store.hit(f"rpm:{scope}", limit_per_minute, MINUTE)
        if wait is not None:
            raise RateLimited(
                f"Rate limit of {limit_per_minute} requests per minute reached; retry in {wait} s.",
                retry_after=wait,
            )


class TokenBudget:
    """Tokens per UTC day per scope; the day resets at 00:00 UTC.

    The budget is checked before a request and charged after it, once its usage is known,
    so requests already in flight when the budget runs out may overshoot it a little.
    """

    def __init__(self, store: CounterStore) -> None:
        self._store = store

    @staticmethod
    def _key(scope: str) -> str:
        return f"tokens:{scope}"

    async def ensure_available(self, scope: str, daily_limit: int | None) -> None:
        """Raise `RateLimited` (until the daily reset) if `scope` has used its budget."""
        if daily_limit is None:
            return
        if await self.used(scope) >= daily_limit:
            wait = self._store.seconds_until_reset(DAY)
            raise RateLimited(
                f"Daily token budget of {daily_limit} tokens used up; it resets at 00:00 UTC.",
                retry_after=wait,
            )

    async def record(self, scope: str, tokens: int) -> int:
        """Charge `tokens` to today's total of `scope`; return the new total."""
        return await self._store.add(self._key(scope), tokens, DAY)

    async def used(self, scope: str) -> int:
        """Tokens `scope` has used today."""
        return await self._store.get(self._key(scope), DAY)


class LoginThrottle:
    """Failed sign-ins per account (email, case-insensitive) and per client address.

    Only failures count. They are totals of epoch-aligned windows of `window_seconds`;
    once either total reaches its limit, `check` refuses until that window ends. A
    success clears the account's failures but not the address's.
    """

    def __init__(
        self,
        store: CounterStore,
        per_account: int = 5,
        per_address: int = 20,
        window_seconds: int = 300,
    ) -> None:
        check_window(window_seconds)
        self._store = store
        self._per_account = per_account
        self._per_address = per_address
        self._window = window_seconds

    @staticmethod
    def _account_key(email: str) -> str:
        return f"login:account:{email.strip().lower()}"

    @staticmethod
    def _address_key(address: str) -> str:
        return f"login:address:{address}"

    async def check(self, email: str, address: str) -> None:
        """Raise `RateLimited` if the account or the address has too many recent failures."""
        for key, limit in (
            (self._account_key(email), self._per_account),
            (self._address_key(address), self._per_address),
        ):
            if await self._store.get(key, self._window) >= limit:
                raise RateLimited(
                    "Too many failed sign-in attempts; try again later.",
                    retry_after=self._store.seconds_until_reset(self._window),
                )

    async def failed(self, email: str, address: str) -> None:
        """Record one failed sign-in against both the account and the address."""
        await self._store.add(self._account_key(email), 1, self._window)
        await self._store.add(self._address_key(address), 1, self._window)

    async def succeeded(self, email: str) -> None:
        """Clear the account's failures after a successful sign-in."""
        await self._store.reset(self._account_key(email))
