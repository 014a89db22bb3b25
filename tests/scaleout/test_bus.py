"""The event bus: the same cases against `LocalBus` and `RedisBus` (one process); then
delivery between processes through Redis, order, and outages."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from tests.scaleout.conftest import BACKENDS, Links, eventually
from tests.scaleout.redis_server import RedisServer

from universal_ai_tools.realtime.bus import Event, EventBus, Listener, LocalBus
from universal_ai_tools.scaleout.redis_bus import RedisBus


class Recorder:
    def __init__(self) -> None:
        self.events: list[Event] = []

    async def __call__(self, event: Event) -> None:
        self.events.append(event)


def process(links: Links) -> RedisBus:
    """A bus as one server process has it: its own link and subscription."""
    link = links.link()
    return RedisBus(link, links.subscriber(link))  # the first subscribe starts the reader


@pytest.fixture(params=BACKENDS)
def bus(request: pytest.FixtureRequest) -> EventBus:
    if request.param == "memory":
        return LocalBus()
    return process(request.getfixturevalue("links"))


@pytest.fixture
async def buses(links: Links) -> AsyncIterator[tuple[RedisBus, RedisBus]]:
    pair = process(links), process(links)
    yield pair
    for bus in pair:
        await bus.close()


async def test_publish_reaches_the_channel_s_listeners_before_it_returns(bus: EventBus) -> None:
    first, second, elsewhere = Recorder(), Recorder(), Recorder()
    bus.subscribe("room:1", first)
    bus.subscribe("room:1", second)
    bus.subscribe("room:2", elsewhere)
    await bus.publish("room:1", {"type": "message", "seq": 1})
    assert first.events == second.events == [{"type": "message", "seq": 1}]
    assert elsewhere.events == []
    await bus.close()


async def test_order_is_kept(bus: EventBus) -> None:
    recorder = Recorder()
    bus.subscribe("room:1", recorder)
    for seq in range(200):
        await bus.publish("room:1", {"seq": seq})
    assert [e["seq"] for e in recorder.events] == list(range(200))
    await bus.close()


async def test_unsubscribe_stops_delivery(bus: EventBus) -> None:
    kept, removed = Recorder(), Recorder()
    bus.subscribe("room:1", kept)
    bus.subscribe("room:1", removed)
    bus.unsubscribe("room:1", removed)
    bus.unsubscribe("room:1", Recorder())  # never subscribed: ignored
    bus.unsubscribe("room:9", removed)
    await bus.publish("room:1", {"n": 1})
    assert kept.events == [{"n": 1}] and removed.events == []
    bus.unsubscribe("room:1", kept)
    await bus.publish("room:1", {"n": 2})
    assert kept.events == [{"n": 1}]
    await bus.close()


async def test_a_listener_can_publish_and_unsubscribe_itself(bus: EventBus) -> None:
    seen: list[str] = []

    async def once(event: Event) -> None:
        seen.append(str(event["type"]))
        bus.unsubscribe("room:1", once)
        await bus.publish("room:1", {"type": "echo"})

    recorder = Recorder()
    bus.subscribe("room:1", once)
    bus.subscribe("room:1", recorder)
    await bus.publish("room:1", {"type": "first"})
    assert seen == ["first"]
    assert [e["type"] for e in recorder.events] == ["echo", "first"]
    await bus.close()


async def test_a_failing_listener_fails_the_publish(bus: EventBus) -> None:
    async def broken(event: Event) -> None:
        raise RuntimeError("listener bug")

    bus.subscribe("room:1", broken)
    with pytest.raises(RuntimeError):
        await bus.publish("room:1", {"n": 1})
    await bus.close()


async def test_close_forgets_every_listener(bus: EventBus) -> None:
    recorder = Recorder()
    bus.subscribe("room:1", recorder)
    await bus.close()
    await bus.publish("room:1", {"n": 1})
    assert recorder.events == []


# -- between processes ------------------------------------------------------------------


async def test_events_reach_other_processes_once(buses: tuple[RedisBus, RedisBus]) -> None:
    a, b = buses
    on_a, on_b = Recorder(), Recorder()
    a.subscribe("room:1", on_a)
    b.subscribe("room:1", on_b)
    assert await a.ready(5) and await b.ready(5)
    event: Event = {"type": "message", "room": "1", "seq": 7, "content": "héllo", "n": None}
    await a.publish("room:1", event)
    await eventually(lambda: on_b.events == [event])
    assert on_a.events == [event]  # delivered at once, and not again through Redis


async def test_order_is_kept_between_processes(buses: tuple[RedisBus, RedisBus]) -> None:
    a, b = buses
    on_b, elsewhere = Recorder(), Recorder()
    b.subscribe("room:1", on_b)
    b.subscribe("room:2", elsewhere)
    await b.ready(5)
    for seq in range(1000):
        await a.publish("room:1", {"seq": seq})
        await a.publish("room:2", {"seq": -seq})
    await eventually(lambda: len(on_b.events) == 1000 and len(elsewhere.events) == 1000)
    assert [e["seq"] for e in on_b.events] == list(range(1000))
    assert [e["seq"] for e in elsewhere.events] == [-seq for seq in range(1000)]


async def test_a_joining_process_misses_nothing_published_after_it_subscribed(
    buses: tuple[RedisBus, RedisBus],
) -> None:
    a, b = buses
    assert await b.ready(5)
    on_b = Recorder()
    b.subscribe("room:new", on_b)
    # The hub subscribes, then publishes its presence: by then the subscription is live.
    await b.publish("room:new", {"type": "presence"})
    await a.publish("room:new", {"type": "message"})
    await eventually(lambda: len(on_b.events) == 2)
    assert [e["type"] for e in on_b.events] == ["presence", "message"]


async def test_unsubscribed_processes_get_nothing(buses: tuple[RedisBus, RedisBus]) -> None:
    a, b = buses
    on_b, marker = Recorder(), Recorder()
    b.subscribe("room:1", on_b)
    b.subscribe("room:marker", marker)
    await b.ready(5)
    b.unsubscribe("room:1", on_b)
    await b.ready(5)
    await a.publish("room:1", {"n": 1})
    await a.publish("room:marker", {"n": 2})  # sent after: once it is in, so would the first
    await eventually(lambda: marker.events == [{"n": 2}])
    assert on_b.events == []


async def test_an_outage_keeps_local_delivery_and_fan_out_resumes(
    buses: tuple[RedisBus, RedisBus], redis: RedisServer
) -> None:
    a, b = buses
    on_a, on_b = Recorder(), Recorder()
    listeners: list[tuple[RedisBus, Listener]] = [(a, on_a), (b, on_b)]
    for bus, listener in listeners:
        bus.subscribe("room:1", listener)
        await bus.ready(5)
    await a.publish("room:1", {"n": 1})
    await eventually(lambda: len(on_b.events) == 1)
    with redis.outage():
        await eventually(lambda: not a.connected and not b.connected)
        await a.publish("room:1", {"n": 2})  # no error, local listeners still get it
        await b.publish("room:1", {"n": 3})
        assert on_a.events == [{"n": 1}, {"n": 2}]
        assert on_b.events == [{"n": 1}, {"n": 3}]
        b.subscribe("room:2", on_b)  # subscribed while Redis is down
    # Redis is back, empty: both processes subscribe again by themselves.
    assert await a.ready(10) and await b.ready(10)
    await a.publish("room:1", {"n": 4})
    await a.publish("room:2", {"n": 5})
    await eventually(lambda: len(on_b.events) == 4)
    assert on_b.events[2:] == [{"n": 4}, {"n": 5}]
    assert on_a.events == [{"n": 1}, {"n": 2}, {"n": 4}]
