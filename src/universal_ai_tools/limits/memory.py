"""`MemoryCounterStore`: the in-process `CounterStore` for a single process.

Safe under asyncio concurrency: no method awaits between reading and writing a counter,
so each check-and-count runs as one step of the event loop (it is not thread-safe; run
it on one event loop). Memory stays bounded: entries are grouped by kind and window
length, each group ordered by last write (and so by expiry), expired entries are dropped
from the front of every group at most once per `prune_interval` seconds, and beyond
`max_keys` entries the least recently written one is evicted.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from typing import TypeVar

from universal_ai_tools.limits.base import (
    SLIDING_BUCKETS,
    Clock,
    check_window,
    fixed_window_end,
    seconds_until,
)


@dataclass(slots=True)
class _Entry:
    touched: float  # clock time of the last write
    expires_at: float  # from this moment on the entry counts nothing


@dataclass(slots=True)
class _Sliding(_Entry):
    """Hits per bucket, oldest bucket first."""

    buckets: deque[tuple[int, int]] = field(default_factory=deque)
    total: int = 0

    def drop_before(self, first_live: int) -> None:
        while self.buckets and self.buckets[0][0] < first_live:
            self.total -= self.buckets.popleft()[1]

    def count(self, bucket: int) -> None:
        # A clock that stepped back merges into the newest bucket, keeping the order.
        if self.buckets and self.buckets[-1][0] >= bucket:
            newest, hits = self.buckets[-1]
            self.buckets[-1] = (newest, hits + 1)
        else:
            self.buckets.append((bucket, 1))
        self.total += 1


@dataclass(slots=True)
class _Fixed(_Entry):
    window: int  # number of the epoch-aligned window the total belongs to
    total: int = 0


E = TypeVar("E", bound=_Entry)
Groups = dict[int, OrderedDict[str, E]]  # window length -> key -> entry


def _bucket_end(bucket: int, window_seconds: int) -> float:
    """When the hits of `bucket` stop counting: the bucket's end plus one window."""
    return (bucket + 1 + SLIDING_BUCKETS) * window_seconds / SLIDING_BUCKETS


def _prune_groups(groups: Groups[E], now: float) -> int:
    dropped = 0
    for window in list(groups):
        group = groups[window]
        while group and next(iter(group.values())).expires_at <= now:
            group.popitem(last=False)
            dropped += 1
        if not group:
            del groups[window]
    return dropped


def _oldest(groups: Groups[E]) -> tuple[float, int] | None:
    """(last write, window) of the least recently written entry of `groups`."""
    fronts = ((next(iter(group.values())).touched, window) for window, group in groups.items())
    return min(fronts, default=None)


class MemoryCounterStore:
    """Counters in this process's memory; see the module docstring for the guarantees."""

    def __init__(
        self,
        clock: Clock = time.time,
        *,
        max_keys: int = 100_000,
        prune_interval: float = 1.0,
    ) -> None:
        if max_keys < 1:
            raise ValueError("max_keys must be at least 1")
        self._clock = clock
        self._max_keys = max_keys
        self._prune_interval = prune_interval
        self._sliding: Groups[_Sliding] = {}
        self._fixed: Groups[_Fixed] = {}
        self._size = 0
        self._next_prune = -math.inf

    def __len__(self) -> int:
        """Entries held, expired ones not yet pruned included."""
        return self._size

    async def hit(self, key: str, limit: int, window_seconds: int) -> int | None:
        check_window(window_seconds)
        now = self._now()
        if limit <= 0:
            return window_seconds
        bucket = math.floor(now * SLIDING_BUCKETS / window_seconds)
        group = self._sliding.get(window_seconds)
        entry = group.get(key) if group is not None else None
        if entry is not None:
            entry.drop_before(bucket - SLIDING_BUCKETS)
            if entry.total >= limit:
                return self._wait(entry, limit, window_seconds, now)
        if entry is None:
            entry = _Sliding(touched=now, expires_at=now)
            self._insert(self._sliding, window_seconds, key, entry, now)
        else:
            self._sliding[window_seconds].move_to_end(key)
        entry.count(bucket)
        entry.touched = now
        entry.expires_at = _bucket_end(entry.buckets[-1][0], window_seconds)
        return None

    async def add(self, key: str, amount: int, window_seconds: int) -> int:
        check_window(window_seconds)
        now = self._now()
        window = math.floor(now / window_seconds)
        group = self._fixed.get(window_seconds)
        entry = group.get(key) if group is not None else None
        if entry is None:
            entry = _Fixed(touched=now, expires_at=now, window=window)
            self._insert(self._fixed, window_seconds, key, entry, now)
        else:
            self._fixed[window_seconds].move_to_end(key)
        if entry.window != window:
            entry.window, entry.total = window, 0
        entry.total += amount
        entry.touched = now
        entry.expires_at = (window + 1) * window_seconds
        return entry.total

    async def get(self, key: str, window_seconds: int) -> int:
        check_window(window_seconds)
        now = self._now()
        group = self._fixed.get(window_seconds)
        entry = group.get(key) if group is not None else None
        if entry is None or entry.window != math.floor(now / window_seconds):
            return 0
        return entry.total

    def seconds_until_reset(self, window_seconds: int) -> int:
        check_window(window_seconds)
        now = self._clock()
        return seconds_until(now, fixed_window_end(now, window_seconds))

    async def reset(self, key: str) -> None:
        self._size -= _discard(self._sliding, key) + _discard(self._fixed, key)

    def _now(self) -> float:
        """The clock's time, pruning first when `prune_interval` has passed (or it stepped back)."""
        now = self._clock()
        if not self._next_prune - self._prune_interval <= now < self._next_prune:
            self._prune(now)
        return now

    def _prune(self, now: float) -> None:
        self._size -= _prune_groups(self._sliding, now) + _prune_groups(self._fixed, now)
        self._next_prune = now + self._prune_interval

    def _insert(
        self, groups: Groups[E], window_seconds: int, key: str, entry: E, now: float
    ) -> None:
        if self._size >= self._max_keys:
            self._prune(now)
            while self._size >= self._max_keys:
                self._evict_oldest()
        groups.setdefault(window_seconds, OrderedDict())[key] = entry
        self._size += 1

    def _evict_oldest(self) -> None:
        sliding, fixed = _oldest(self._sliding), _oldest(self._fixed)
        groups: Groups[_Sliding] | Groups[_Fixed]
        if fixed is None or (sliding is not None and sliding <= fixed):
            assert sliding is not None
            groups, window = self._sliding, sliding[1]
        else:
            groups, window = self._fixed, fixed[1]
        group = groups[window]
        group.popitem(last=False)
        if not group:
            del groups[window]
        self._size -= 1

    @staticmethod
    def _wait(entry: _Sliding, limit: int, window_seconds: int, now: float) -> int:
        """Seconds until enough of the oldest buckets expire to leave room for one hit."""
        excess = entry.total - limit + 1
        for bucket, hits in entry.buckets:
            excess -= hits
            if excess <= 0:
                return seconds_until(now, _bucket_end(bucket, window_seconds))
        raise AssertionError("unreachable: the buckets hold the total")


def _discard(groups: Groups[E], key: str) -> int:
    """Remove `key` from every group; return how many entries went."""
    removed = 0
    for window in list(groups):
        if groups[window].pop(key, None) is not None:
            removed += 1
            if not groups[window]:
                del groups[window]
    return removed
