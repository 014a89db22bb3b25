"""`RedisBus`: the `EventBus` across processes, over Redis pub/sub.

`publish` behaves exactly like `LocalBus.publish` for this process (it awaits this
process's listeners, in order, before it returns) and also queues the event for Redis;
one sender task publishes the queue in order, pipelined, so events keep their order per
channel. Other processes receive them on their one subscription connection and hand them
to their listeners in arrival order, one channel at a time (a per-channel queue and
task), skipping events that came from themselves (already delivered).

When Redis is unreachable, events still reach this process's listeners; other processes
miss them (clients catch up with `since` on reconnect). The subscriber connects and
subscribes again by itself when Redis is back.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
from collections import deque

import orjson
from redis.asyncio import Redis

from universal_ai_tools.realtime.bus import Event, Listener
from universal_ai_tools.scaleout.link import RedisLink, RedisUnavailable, stop_tasks
from universal_ai_tools.scaleout.subscriber import Handler, Subscriber

logger = logging.getLogger(__name__)

BATCH = 256  # events per pipelined round trip


class RedisBus:
    def __init__(
        self, link: RedisLink, subscriber: Subscriber, *, max_pending: int = 10_000
    ) -> None:
        self._link = link
        self._subscriber = subscriber
        self._origin = os.urandom(8).hex()
        self._max_pending = max_pending
        self._listeners: dict[str, list[Listener]] = {}
        self._handlers: dict[str, Handler] = {}
        self._outbox: asyncio.Queue[tuple[str, bytes]] = asyncio.Queue(max_pending)
        self._sender: asyncio.Task[None] | None = None
        self._inbox: dict[str, deque[Event]] = {}
        self._workers: dict[str, asyncio.Task[None]] = {}
        self._closed = False
        self.dropped = 0  # events other processes did not get (queue full, Redis down)

    @property
    def connected(self) -> bool:
        """Whether events from other processes can arrive now."""
        return self._subscriber.connected

    def _channel_key(self, channel: str) -> str:
        return self._link.key("bus", channel)

    # -- EventBus ----------------------------------------------------------------------

    async def publish(self, channel: str, event: Event) -> None:
        if self._subscriber.pending:
            # A channel subscribed just before (a join) must be live before we go on, so
            # that nothing another process publishes from now on is missed here.
            await self._subscriber.ready(self._link.timeout)
        self._send(channel, event)
        for listener in list(self._listeners.get(channel, ())):
            await listener(event)

    def subscribe(self, channel: str, listener: Listener) -> None:
        listeners = self._listeners.setdefault(channel, [])
        listeners.append(listener)
        if len(listeners) == 1:
            handler = self._receiver(channel)
            self._handlers[channel] = handler
            self._subscriber.listen(self._channel_key(channel), handler)

    def unsubscribe(self, channel: str, listener: Listener) -> None:
        listeners = self._listeners.get(channel)
        if listeners and listener in listeners:
            listeners.remove(listener)
            if not listeners:
                del self._listeners[channel]
                handler = self._handlers.pop(channel, None)
                if handler is not None:
                    self._subscriber.unlisten(self._channel_key(channel), handler)

    async def close(self) -> None:
        """Forget every listener; give queued events a moment to leave; stop the tasks."""
        if self._closed:
            return
        self._closed = True
        for channel in list(self._listeners):
            handler = self._handlers.pop(channel, None)
            if handler is not None:
                self._subscriber.unlisten(self._channel_key(channel), handler)
        self._listeners.clear()
        if self._sender is not None:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._link.timeout):
                    await self._outbox.join()
        await stop_tasks([self._sender, *self._workers.values()], self._link.timeout)
        self._sender = None
        self._workers.clear()
        self._inbox.clear()

    async def ready(self, within: float | None = None) -> bool:
        """Wait until every subscribed channel is live in Redis (False: not connected)."""
        return await self._subscriber.ready(self._link.timeout if within is None else within)

    # -- out -----------------------------------------------------------------------------

    def _send(self, channel: str, event: Event) -> None:
        if self._closed:
            return
        try:
            payload = orjson.dumps({"src": self._origin, "event": event})
        except TypeError:
            logger.error("event on %s is not JSON; delivered in this process only", channel)
            return
        try:
            self._outbox.put_nowait((self._channel_key(channel), payload))
        except asyncio.QueueFull:
            self.dropped += 1
            return
        if self._sender is None or self._sender.done():
            self._sender = asyncio.get_running_loop().create_task(self._send_loop())

    async def _send_loop(self) -> None:
        while True:
            batch = [await self._outbox.get()]
            while len(batch) < BATCH and not self._outbox.empty():
                batch.append(self._outbox.get_nowait())
            try:
                await self._link.run(functools.partial(_publish_all, batch=batch))
            except RedisUnavailable:
                self.dropped += len(batch)
            finally:
                for _ in batch:
                    self._outbox.task_done()

    # -- in ------------------------------------------------------------------------------

    def _receiver(self, channel: str) -> Handler:
        def receive(data: bytes) -> None:
            try:
                envelope = orjson.loads(data)
                origin, event = envelope["src"], envelope["event"]
            except (orjson.JSONDecodeError, KeyError, TypeError):
                logger.error("ignored a malformed event on %s", channel)
                return
            if origin == self._origin or not isinstance(event, dict):
                return  # ours: delivered when it was published
            self._deliver(channel, event)

        return receive

    def _deliver(self, channel: str, event: Event) -> None:
        if self._closed:
            return
        inbox = self._inbox.get(channel)
        if inbox is None:
            inbox = self._inbox[channel] = deque()
            self._workers[channel] = asyncio.get_running_loop().create_task(
                self._drain(channel, inbox)
            )
        if len(inbox) >= self._max_pending:
            inbox.popleft()
            self.dropped += 1
        inbox.append(event)

    async def _drain(self, channel: str, inbox: deque[Event]) -> None:
        try:
            while inbox:
                event = inbox.popleft()
                for listener in list(self._listeners.get(channel, ())):
                    try:
                        await listener(event)
                    except Exception:
                        logger.exception("listener on %s failed", channel)
        finally:
            if self._inbox.get(channel) is inbox:
                del self._inbox[channel]
                del self._workers[channel]


async def _publish_all(client: Redis, *, batch: list[tuple[str, bytes]]) -> None:
    async with client.pipeline(transaction=False) as pipe:
        for channel, payload in batch:
            pipe.publish(channel, payload)
        await pipe.execute()
