"""`Subscriber`: this process's one Redis pub/sub connection, shared by the bus and the epoch.

A reader task owns the connection: it subscribes every channel that has a handler,
hands each message to the handlers of its channel (synchronous, quick callables: they
only queue work), pings the server when the line is quiet, and on any failure drops the
connection and connects again with a growing pause, subscribing everything again. Each
successful connection increments `generation`; `confirmed(channel)` says whether the
server has acknowledged the subscription of `channel` on the current connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from redis.asyncio.client import PubSub
from redis.exceptions import RedisError

from universal_ai_tools.scaleout.link import RedisLink, raise_if_cancelled, stop_tasks

logger = logging.getLogger(__name__)

Handler = Callable[[bytes], None]
FAILURES = (RedisError, OSError, TimeoutError)


class Subscriber:
    def __init__(
        self,
        link: RedisLink,
        *,
        ping_interval: float = 1.0,
        min_backoff: float = 0.05,
        max_backoff: float = 1.0,
    ) -> None:
        self._link = link
        self._ping_interval = ping_interval
        self._min_backoff = min_backoff
        self._max_backoff = max_backoff
        self._control = link.key("control")  # always subscribed: the connection is never idle
        self._handlers: dict[str, list[Handler]] = {}
        self._pubsub: PubSub | None = None
        self._connected = False
        self._active: set[str] = set()  # SUBSCRIBE sent on the current connection
        self._confirmed: set[str] = set()  # ... and acknowledged by the server
        self._unconfirmed: set[str] = set()  # wanted, not acknowledged yet
        self._progress = asyncio.Event()
        self._dirty = False
        self._sync_task: asyncio.Task[None] | None = None
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self.generation = 0

    # -- state -------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self._connected

    def confirmed(self, channel: str) -> bool:
        return self._connected and channel in self._confirmed

    @property
    def pending(self) -> bool:
        """Connected, but some wanted channel is not acknowledged yet."""
        return self._connected and bool(self._unconfirmed)

    def _wanted(self) -> set[str]:
        return {self._control, *self._handlers}

    def _notify(self) -> None:
        self._progress.set()
        self._progress = asyncio.Event()

    async def ready(self, within: float | None = None) -> bool:
        """Wait until every wanted channel is acknowledged; False if that did not happen
        within `within` seconds (None: no limit) or the subscriber is not running."""
        self.start()
        deadline = None if within is None else time.monotonic() + within
        while not (self._connected and not self.pending):
            if self._task is None or self._task.done():
                return False
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                return False
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(remaining):
                    await self._progress.wait()
        return True

    # -- handlers ----------------------------------------------------------------------

    def listen(self, channel: str, handler: Handler) -> None:
        handlers = self._handlers.setdefault(channel, [])
        handlers.append(handler)
        if len(handlers) == 1:
            if channel not in self._confirmed:
                self._unconfirmed.add(channel)
            self._changed()

    def unlisten(self, channel: str, handler: Handler) -> None:
        handlers = self._handlers.get(channel)
        if handlers and handler in handlers:
            handlers.remove(handler)
            if not handlers:
                del self._handlers[channel]
                self._unconfirmed.discard(channel)
                self._changed()

    def _changed(self) -> None:
        self._dirty = True
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # applied when the reader connects
        if self._task is None and not self._closed:
            self.start()  # the first use starts the reader
        if self._sync_task is None or self._sync_task.done():
            self._sync_task = loop.create_task(self._sync())

    async def _sync(self) -> None:
        """Bring the subscriptions of the current connection in line with the handlers."""
        while self._dirty:
            self._dirty = False
            pubsub = self._pubsub
            if pubsub is None or not self._connected:
                return
            wanted = self._wanted()
            add, drop = wanted - self._active, self._active - wanted
            try:
                async with asyncio.timeout(self._link.timeout):
                    if add:
                        await pubsub.subscribe(*add)
                    if drop:
                        await pubsub.unsubscribe(*drop)
                raise_if_cancelled()
            except FAILURES:
                # Break the connection: the reader reconnects and subscribes everything.
                await _close_quietly(pubsub)
                return
            if self._pubsub is pubsub:
                self._active = (self._active | add) - drop

    # -- the reader --------------------------------------------------------------------

    def start(self) -> None:
        if self._task is None and not self._closed:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        backoff = self._min_backoff
        while True:
            try:
                await self._connect()
                backoff = self._min_backoff
                await self._read()
            except FAILURES as error:
                raise_if_cancelled(error)  # redis-py may turn a cancellation into an error
                await self._lost(error)
            except Exception as error:  # a bug: log it, keep the process subscribed
                raise_if_cancelled(error)
                logger.exception("pub/sub reader failed")
                await self._lost(error)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, self._max_backoff)

    async def _connect(self) -> None:
        pubsub = self._link.pubsub()
        self._pubsub = pubsub
        channels = self._wanted()
        async with asyncio.timeout(self._link.timeout):
            await pubsub.subscribe(*channels)
        self._active = channels
        self._confirmed = set()
        self._unconfirmed = set(channels)
        self._connected = True
        self.generation += 1
        self._link.mark_up()
        self._changed()  # handlers added while connecting

    async def _read(self) -> None:
        assert self._pubsub is not None
        pubsub = self._pubsub
        pinged = False
        while True:
            message = await pubsub.get_message(timeout=self._ping_interval)
            raise_if_cancelled()
            if message is None:
                if pinged:
                    raise ConnectionError("Redis did not answer a ping")
                await pubsub.ping()
                raise_if_cancelled()
                pinged = True
                continue
            pinged = False
            self._handle(message)

    def _handle(self, message: dict[str, Any]) -> None:
        kind = message.get("type")
        raw_channel = message.get("channel")
        channel = raw_channel.decode() if isinstance(raw_channel, bytes) else str(raw_channel)
        if kind == "message":
            data = message.get("data")
            if isinstance(data, bytes):
                for handler in list(self._handlers.get(channel, ())):
                    try:
                        handler(data)
                    except Exception:  # a handler's bug must not stop the reader
                        logger.exception("pub/sub handler for %s failed", channel)
        elif kind == "subscribe":
            self._confirmed.add(channel)
            self._unconfirmed.discard(channel)
            self._notify()
        elif kind == "unsubscribe":
            self._confirmed.discard(channel)
            if channel in self._handlers:  # wanted again: its SUBSCRIBE follows
                self._unconfirmed.add(channel)
            self._notify()

    async def _lost(self, error: BaseException) -> None:
        was_connected = self._connected
        self._connected = False
        self._active, self._confirmed = set(), set()
        pubsub, self._pubsub = self._pubsub, None
        self._notify()
        if was_connected or self._link.healthy:
            self._link.mark_down(error)
        if pubsub is not None:
            await _close_quietly(pubsub)

    async def close(self) -> None:
        self._closed = True
        # Bounded: a cancellation redis-py swallows is seen after at most one ping interval.
        await stop_tasks((self._sync_task, self._task), self._ping_interval + self._link.timeout)
        self._task = self._sync_task = None
        self._connected = False
        self._notify()
        pubsub, self._pubsub = self._pubsub, None
        if pubsub is not None:
            await _close_quietly(pubsub)


async def _close_quietly(pubsub: PubSub) -> None:
    close: Callable[[], Awaitable[None]] = pubsub.aclose  # untyped in some redis-py versions
    with contextlib.suppress(*FAILURES):
        await close()
