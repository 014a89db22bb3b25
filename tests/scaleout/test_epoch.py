"""The identity epoch: the same cases against `FileEpoch` and `RedisEpoch` (under the real
`IdentityCache`); then bumps between processes and what an outage does."""

from __future__ import annotations

from pathlib import Path
from typing import cast

import pytest
from tests.scaleout.conftest import BACKENDS, Links, eventually
from tests.scaleout.redis_server import RedisServer

from universal_ai_tools.auth.cache import FileEpoch, IdentityCache
from universal_ai_tools.scaleout.redis_epoch import RedisEpoch

Epoch = FileEpoch | RedisEpoch


def process(links: Links) -> RedisEpoch:
    link = links.link()
    return RedisEpoch(link, links.subscriber(link))


async def settle(epoch: Epoch) -> Epoch:
    """A Redis epoch is shared once its subscription is acknowledged."""
    if isinstance(epoch, RedisEpoch):
        epoch.start()
        await eventually(lambda: epoch.shared)
    return epoch


def cache_on(epoch: Epoch) -> IdentityCache[str]:
    return IdentityCache(cast(FileEpoch, epoch))  # IdentityCache is typed for FileEpoch


@pytest.fixture(params=BACKENDS)
def epoch(request: pytest.FixtureRequest, tmp_path: Path) -> Epoch:
    if request.param == "memory":
        return FileEpoch(tmp_path)
    return process(request.getfixturevalue("links"))


async def test_current_is_stable_until_a_bump(epoch: Epoch) -> None:
    await settle(epoch)
    before = epoch.current()
    assert epoch.current() == before
    epoch.bump()
    after = epoch.current()
    assert after != before
    assert epoch.current() == after


async def test_the_identity_cache_keeps_values_until_invalidated(epoch: Epoch) -> None:
    cache = cache_on(await settle(epoch))
    stamp = cache.stamp()
    cache.put("user-1", "alice", stamp)
    assert cache.get("user-1") == "alice"
    stale = cache.stamp()
    cache.invalidate()
    assert cache.get("user-1") is None
    cache.put("user-1", "alice, before the write", stale)  # read before the write: dropped
    assert cache.get("user-1") is None


# -- between processes ------------------------------------------------------------------


async def test_a_bump_empties_every_process_s_cache(links: Links) -> None:
    a, b = process(links), process(links)
    await settle(a)
    await settle(b)
    on_a, on_b = cache_on(a), cache_on(b)
    on_b.put("user-1", "admin", on_b.stamp())
    on_a.put("user-1", "admin", on_a.stamp())
    on_a.invalidate()  # a role change on A
    assert on_a.get("user-1") is None
    await eventually(lambda: on_b.get("user-1") is None)
    on_b.put("user-1", "member", on_b.stamp())
    assert await a.settled(5)
    assert on_b.get("user-1") == "member"  # A's own bump came back once, not forever
    await a.close()
    await b.close()


async def test_an_outage_keeps_the_cache_stale_and_recovers(
    links: Links, redis: RedisServer
) -> None:
    a, b = process(links), process(links)
    await settle(a)
    await settle(b)
    on_b = cache_on(b)
    on_b.put("user-1", "admin", on_b.stamp())
    with redis.outage():
        await eventually(lambda: not a.shared and not b.shared)
        assert on_b.get("user-1") is None
        on_b.put("user-1", "admin", on_b.stamp())  # never kept: every check reads the database
        assert on_b.get("user-1") is None
        assert b.current() != b.current()
        a.bump()  # a write on A while Redis is down: no error
    await eventually(lambda: a.shared and b.shared)
    assert await a.settled(5)  # the bump made during the outage reached Redis
    assert await links.links[0].client.get("uait:epoch:identity") == b"1"

    def kept() -> bool:  # a bump still on its way may empty the cache once more
        on_b.put("user-1", "member", on_b.stamp())
        return on_b.get("user-1") == "member"

    await eventually(kept)
    await a.close()
    await b.close()
