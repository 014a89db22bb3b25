"""`build_shared_state`: off without a Redis URL; with one, every piece shared by two
"processes"; and a server that starts while Redis is down, then recovers by itself."""

from __future__ import annotations

import pytest
from tests.conftest import SettingsFactory
from tests.scaleout.conftest import eventually
from tests.scaleout.redis_server import RedisServer
from tests.scaleout.test_cache_store import SCOPE, entry, unit

from universal_ai_tools.limits.base import CounterStore
from universal_ai_tools.realtime.bus import Event
from universal_ai_tools.scaleout import SharedState, build_shared_state
from universal_ai_tools.scaleout.link import redacted
from universal_ai_tools.settings import load_settings


async def test_off_without_a_redis_url(make_settings: SettingsFactory) -> None:
    assert await build_shared_state(make_settings(redis_url=None)) is None


def test_the_url_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UAIT_REDIS_URL", "redis://cache.internal:6379/2")
    monkeypatch.setenv("UAIT_REDIS_PREFIX", "staging:")
    settings = load_settings()
    assert settings.redis_url == "redis://cache.internal:6379/2"
    assert settings.redis_prefix == "staging:"


def test_passwords_stay_out_of_logs() -> None:
    assert redacted("redis://:s3cret@host:6379/0") == "redis://***@host:6379/0"
    assert redacted("redis://app:s3cret@host/1") == "redis://app:***@host/1"
    assert redacted("redis://host:6379") == "redis://host:6379"


async def test_two_processes_share_everything(
    make_settings: SettingsFactory, redis: RedisServer
) -> None:
    settings = make_settings(redis_url=redis.url)
    first, second = await build_shared_state(settings), await build_shared_state(settings)
    assert isinstance(first, SharedState) and isinstance(second, SharedState)
    try:
        assert first.healthy and await first.ping()
        assert isinstance(first.counters, CounterStore)
        # fan-out
        received: list[Event] = []

        async def listener(event: Event) -> None:
            received.append(event)

        second.bus.subscribe("room:1", listener)
        await second.bus.ready()
        await first.bus.publish("room:1", {"type": "message", "seq": 1})
        await eventually(lambda: received == [{"type": "message", "seq": 1}])
        # rate limits
        assert await first.counters.hit("rpm:key", 1, 60) is None
        assert await second.counters.hit("rpm:key", 1, 60) is not None
        # cache
        await first.cache.put(entry("a", unit(1, 0)))
        found = await second.cache.nearest(SCOPE, unit(1, 0), 0.9)
        assert found is not None and found[0].id == "a"
        # revocations
        before = second.epoch.current()
        first.epoch.bump()
        await eventually(lambda: second.epoch.current() != before)
    finally:
        await first.close()
        await second.close()
    await first.close()  # idempotent


async def test_a_server_started_while_redis_is_down_recovers_by_itself(
    make_settings: SettingsFactory, redis: RedisServer
) -> None:
    redis.stop()
    try:
        state = await build_shared_state(make_settings(redis_url=redis.url), connect_timeout=0.3)
        assert state is not None
        assert not state.healthy and not await state.ping()
        assert await state.counters.hit("k", 1, 60) is None  # counted locally
        assert await state.counters.hit("k", 1, 60) is not None
        assert await state.cache.get("missing") is None
        await state.cache.put(entry("dropped"))
        assert state.epoch.current() != state.epoch.current()
        local: list[Event] = []

        async def listener(event: Event) -> None:
            local.append(event)

        state.bus.subscribe("room:1", listener)
        await state.bus.publish("room:1", {"n": 1})
        assert local == [{"n": 1}]
    finally:
        redis.start()
    try:
        await eventually(lambda: state.healthy and state.epoch.shared)
        await state.cache.put(entry("kept"))
        kept = await state.cache.get("kept")
        assert kept is not None and kept.hits == 1
        assert await state.counters.hit("k", 1, 60) is None  # Redis counts now (empty)
        assert state.epoch.current() == state.epoch.current()
    finally:
        await state.close()
