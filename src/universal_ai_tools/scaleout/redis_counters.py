"""`RedisCounterStore`: the `CounterStore` shared by every process, in Redis.

The semantics are those of `MemoryCounterStore` (see `limits.base`): the same sliding
buckets for `hit`, the same epoch-aligned windows for `add`/`get`, computed from the same
injected clock, so both stores give the same answers to the same calls. Each check-and-count
is one Lua script, atomic in Redis.

All counters of one key live in one hash (`<prefix>ctr:<key>`), so `reset` is one DEL:
`h:<window>:<bucket>` fields hold the hits of a sliding bucket, `fw:<window>` and
`ft:<window>` the number and total of the current fixed window. The hash expires when
its last counter would count nothing any more.

When Redis is unreachable the store counts in a local `MemoryCounterStore` instead
(limits per process) and goes back to Redis by itself once it answers again.
"""

from __future__ import annotations

import contextlib
import math
import time
from typing import cast

from redis.asyncio import Redis
from redis.typing import EncodableT

from universal_ai_tools.limits.base import (
    SLIDING_BUCKETS,
    Clock,
    check_window,
    fixed_window_end,
    seconds_until,
)
from universal_ai_tools.limits.memory import MemoryCounterStore
from universal_ai_tools.scaleout.link import RedisLink, RedisUnavailable

_EXTEND = """
local function extend(key, ttl)
  if ttl < 1 then ttl = 1 end
  if redis.call('PTTL', key) < ttl then redis.call('PEXPIRE', key, ttl) end
end
"""

# KEYS[1]: the hash. ARGV: window, bucket, first live bucket, limit, now.
# Returns -1 when the hit is counted, else the bucket whose end leaves room for one hit.
HIT = (
    _EXTEND
    + """
local window, bucket = tonumber(ARGV[1]), tonumber(ARGV[2])
local first_live, limit, now = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local prefix = 'h:' .. ARGV[1] .. ':'
local fields = redis.call('HGETALL', KEYS[1])
local live, total, newest = {}, 0, nil
for i = 1, #fields, 2 do
  local name = fields[i]
  if string.sub(name, 1, #prefix) == prefix then
    local b = tonumber(string.sub(name, #prefix + 1))
    if b < first_live then
      redis.call('HDEL', KEYS[1], name)
    else
      local hits = tonumber(fields[i + 1])
      live[#live + 1] = {b, hits}
      total = total + hits
      if newest == nil or b > newest then newest = b end
    end
  end
end
if total >= limit then
  table.sort(live, function(x, y) return x[1] < y[1] end)
  local excess = total - limit + 1
  for _, pair in ipairs(live) do
    excess = excess - pair[2]
    if excess <= 0 then return pair[1] end
  end
end
-- A clock that stepped back counts into the newest bucket, as in memory.
if newest ~= nil and newest > bucket then bucket = newest end
redis.call('HINCRBY', KEYS[1], prefix .. string.format('%.0f', bucket), 1)
local ends = (bucket + 1 + %(buckets)d) * window / %(buckets)d
extend(KEYS[1], math.ceil((ends - now) * 1000))
return -1
""".replace("%(buckets)d", str(SLIDING_BUCKETS))
)

# KEYS[1]: the hash. ARGV: window, window number, amount, milliseconds left in the window.
ADD = (
    _EXTEND
    + """
local number_field, total_field = 'fw:' .. ARGV[1], 'ft:' .. ARGV[1]
if redis.call('HGET', KEYS[1], number_field) ~= ARGV[2] then
  redis.call('HSET', KEYS[1], number_field, ARGV[2], total_field, 0)
end
local total = redis.call('HINCRBY', KEYS[1], total_field, ARGV[3])
extend(KEYS[1], tonumber(ARGV[4]))
return total
"""
)


def _bucket_end(bucket: int, window_seconds: int) -> float:
    """When the hits of `bucket` stop counting (as in `limits.memory`)."""
    return (bucket + 1 + SLIDING_BUCKETS) * window_seconds / SLIDING_BUCKETS


class RedisCounterStore:
    def __init__(
        self,
        link: RedisLink,
        clock: Clock = time.time,
        *,
        fallback: MemoryCounterStore | None = None,
    ) -> None:
        self._link = link
        self._clock = clock
        self.fallback = fallback if fallback is not None else MemoryCounterStore(clock)
        self._hit = link.client.register_script(HIT)
        self._add = link.client.register_script(ADD)

    @property
    def healthy(self) -> bool:
        return self._link.healthy

    def _key(self, key: str) -> str:
        return self._link.key("ctr", key)

    async def hit(self, key: str, limit: int, window_seconds: int) -> int | None:
        check_window(window_seconds)
        now = self._clock()
        if limit <= 0:
            return window_seconds
        bucket = math.floor(now * SLIDING_BUCKETS / window_seconds)
        args: list[EncodableT] = [
            window_seconds,
            bucket,
            bucket - SLIDING_BUCKETS,
            limit,
            repr(now),
        ]

        async def run(client: Redis) -> int:
            return int(await self._hit(keys=[self._key(key)], args=args, client=client))

        try:
            freeing = await self._link.run(run)
        except RedisUnavailable:
            return await self.fallback.hit(key, limit, window_seconds)
        if freeing < 0:
            return None
        return seconds_until(now, _bucket_end(freeing, window_seconds))

    async def add(self, key: str, amount: int, window_seconds: int) -> int:
        check_window(window_seconds)
        now = self._clock()
        window = math.floor(now / window_seconds)
        left_ms = math.ceil(((window + 1) * window_seconds - now) * 1000)
        args: list[EncodableT] = [window_seconds, window, amount, left_ms]

        async def run(client: Redis) -> int:
            return int(await self._add(keys=[self._key(key)], args=args, client=client))

        try:
            return await self._link.run(run)
        except RedisUnavailable:
            return await self.fallback.add(key, amount, window_seconds)

    async def get(self, key: str, window_seconds: int) -> int:
        check_window(window_seconds)
        now = self._clock()
        window = math.floor(now / window_seconds)
        fields = [f"fw:{window_seconds}", f"ft:{window_seconds}"]

        async def run(client: Redis) -> list[bytes | None]:
            return cast(list[bytes | None], await client.hmget(self._key(key), fields))

        try:
            number, total = await self._link.run(run)
        except RedisUnavailable:
            return await self.fallback.get(key, window_seconds)
        if number is None or total is None or int(number) != window:
            return 0
        return int(total)

    def seconds_until_reset(self, window_seconds: int) -> int:
        check_window(window_seconds)
        now = self._clock()
        return seconds_until(now, fixed_window_end(now, window_seconds))

    async def reset(self, key: str) -> None:
        await self.fallback.reset(key)  # a later outage must not resurrect old local counts

        async def run(client: Redis) -> None:
            await client.delete(self._key(key))

        with contextlib.suppress(RedisUnavailable):
            await self._link.run(run)
