"""How a `CacheEntry` is laid out in Redis, and the Lua scripts that change the layout.

Keys, under `<prefix>cache:`:
- `e:<id>`: the entry, a hash (vector as float32 bytes); expires `ttl_seconds` after
  `created_at`.
- `lru`: every entry id, scored by a global use counter (`seq`): eviction beyond
  `max_entries` takes the lowest scores. `o:<org>` holds the same scores per organization
  (listing, most recently used first).
- `s:<scope>`: the ids of a scope's entries that have a vector; `v:<scope>` a token that
  changes whenever that set changes (processes keep the scope's matrix until it does).
Index members whose entry has expired are dropped when they are met.
"""

from __future__ import annotations

import hashlib

import numpy as np
import orjson

from universal_ai_tools.cache.entries import CacheEntry, Vector

Raw = dict[bytes, bytes]


def scope_id(scope: tuple[str, str, str]) -> str:
    return hashlib.sha256(orjson.dumps(list(scope))).hexdigest()[:32]


def encode(entry: CacheEntry) -> list[str | bytes]:
    """The hash's fields and values, flat, as HSET takes them."""
    fields: list[str | bytes] = [
        "org", entry.org_id,
        "model", entry.model,
        "context", entry.context,
        "prompt", entry.prompt,
        "answer", entry.answer,
        "finish", entry.finish_reason,
        "pt", str(entry.prompt_tokens),
        "ct", str(entry.completion_tokens),
        "created", repr(float(entry.created_at)),
        "hits", str(entry.hits),
    ]  # fmt: skip
    if entry.last_hit_at is not None:
        fields += ["last_hit", repr(float(entry.last_hit_at))]
    if entry.vector is not None:
        fields += ["vec", vector_bytes(entry.vector)]
        fields += ["sk", scope_id((entry.org_id, entry.model, entry.context))]
    return fields


def vector_bytes(vector: Vector) -> bytes:
    return np.ascontiguousarray(vector, dtype="<f4").tobytes()


def vector_of(data: bytes) -> Vector:
    return np.frombuffer(data, dtype="<f4").astype(np.float32)


def pairs(flat: list[bytes]) -> Raw:
    return {flat[i]: flat[i + 1] for i in range(0, len(flat) - 1, 2)}


def decode(entry_id: str, raw: Raw) -> CacheEntry:
    last_hit = raw.get(b"last_hit")
    vector = raw.get(b"vec")
    return CacheEntry(
        id=entry_id,
        org_id=raw[b"org"].decode(),
        model=raw[b"model"].decode(),
        context=raw[b"context"].decode(),
        prompt=raw[b"prompt"].decode(),
        answer=raw[b"answer"].decode(),
        finish_reason=raw[b"finish"].decode(),
        prompt_tokens=int(raw[b"pt"]),
        completion_tokens=int(raw[b"ct"]),
        vector=vector_of(vector) if vector is not None else None,
        created_at=float(raw[b"created"]),
        last_hit_at=float(last_hit) if last_hit is not None else None,
        hits=int(raw.get(b"hits", b"0")),
    )


# Every script takes ARGV[1] = the key prefix and ARGV[2] = a token unique to the call.
_FORGET = """
local p, token = ARGV[1], ARGV[2]
local function extend(key, ttl)
  if redis.call('PTTL', key) < ttl then redis.call('PEXPIRE', key, ttl) end
end
local function forget(id)
  local e = p .. 'e:' .. id
  local info = redis.call('HMGET', e, 'org', 'sk')
  redis.call('DEL', e)
  redis.call('ZREM', p .. 'lru', id)
  if info[1] then redis.call('ZREM', p .. 'o:' .. info[1], id) end
  if info[2] then
    local s = p .. 's:' .. info[2]
    if redis.call('SREM', s, id) == 1 then
      if redis.call('SCARD', s) == 0 then
        redis.call('DEL', p .. 'v:' .. info[2])
      else
        redis.call('SET', p .. 'v:' .. info[2], token, 'KEEPTTL')
      end
    end
  end
  return info[1]
end
local function use(id, org)
  local seq = redis.call('INCR', p .. 'seq')
  redis.call('ZADD', p .. 'lru', seq, id)
  redis.call('ZADD', p .. 'o:' .. org, seq, id)
end
"""

# ARGV: prefix, token, id, ttl ms, max entries, org, scope ('' without a vector), fields...
PUT = (
    _FORGET
    + """
local id, ttl, max, org, sk = ARGV[3], tonumber(ARGV[4]), tonumber(ARGV[5]), ARGV[6], ARGV[7]
forget(id)
if ttl > 0 then
  local e = p .. 'e:' .. id
  redis.call('HSET', e, unpack(ARGV, 8))
  redis.call('PEXPIRE', e, ttl)
  use(id, org)
  extend(p .. 'o:' .. org, ttl)
  if sk ~= '' then
    local s = p .. 's:' .. sk
    redis.call('SADD', s, id)
    extend(s, ttl)
    redis.call('SET', p .. 'v:' .. sk, token, 'PX', redis.call('PTTL', s))
  end
end
local excess = redis.call('ZCARD', p .. 'lru') - max
if excess > 0 then
  for _, victim in ipairs(redis.call('ZRANGE', p .. 'lru', 0, excess - 1)) do forget(victim) end
end
return 1
"""
)

# ARGV: prefix, token, id, now, ttl seconds. The entry, after counting a hit, or nil.
TOUCH = (
    _FORGET
    + """
local id, now, ttl = ARGV[3], ARGV[4], tonumber(ARGV[5])
local e = p .. 'e:' .. id
local created = redis.call('HGET', e, 'created')
if not created then
  redis.call('ZREM', p .. 'lru', id)
  return false
end
if tonumber(now) - tonumber(created) > ttl then
  forget(id)
  return false
end
redis.call('HINCRBY', e, 'hits', 1)
redis.call('HSET', e, 'last_hit', now)
use(id, redis.call('HGET', e, 'org'))
return redis.call('HGETALL', e)
"""
)

# ARGV: prefix, token, id, org. 1 when the entry was this organization's and is gone.
DELETE = (
    _FORGET
    + """
if redis.call('HGET', p .. 'e:' .. ARGV[3], 'org') ~= ARGV[4] then return 0 end
forget(ARGV[3])
return 1
"""
)

# ARGV: prefix, token, org, '1' to match a model ('0': every model), model, ids...
# Removes the organization's matching entries among the ids; returns how many.
FLUSH = (
    _FORGET
    + """
local org, by_model, model = ARGV[3], ARGV[4] == '1', ARGV[5]
local removed = 0
for i = 6, #ARGV do
  local id = ARGV[i]
  local info = redis.call('HMGET', p .. 'e:' .. id, 'org', 'model')
  if not info[1] then
    redis.call('ZREM', p .. 'o:' .. org, id)
    redis.call('ZREM', p .. 'lru', id)
  elseif info[1] == org and (not by_model or info[2] == model) then
    forget(id)
    removed = removed + 1
  end
end
return removed
"""
)
