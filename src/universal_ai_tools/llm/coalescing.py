"""Identical concurrent deterministic requests share one backend call.

A whole answer is shared as one task; a stream is shared through a buffer that every
reader walks from the start, so a request that joins late still gets the whole stream.
The backend call is cancelled only when the last of its readers goes away.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable
from typing import Any, Generic, TypeVar

import orjson

from universal_ai_tools.llm.types import ChatRequest

T = TypeVar("T")
N = TypeVar("N")


def request_key(scope: tuple[str, ...], request: ChatRequest) -> Hashable | None:
    """The key of a deterministic request (temperature 0 or a fixed seed), else None."""
    if request.temperature != 0 and request.seed is None:
        return None
    fields: dict[str, Any] = {
        "messages": [m.model_dump(exclude_none=True) for m in request.messages],
        "temperature": request.temperature,
        "top_p": request.top_p,
        "max_tokens": request.max_tokens,
        "stop": request.stop,
        "seed": request.seed,
        "json_mode": request.json_mode,
        "tools": [t.model_dump() for t in request.tools] if request.tools else None,
        "tool_choice": request.tool_choice,
    }
    return (*scope, orjson.dumps(fields, option=orjson.OPT_SORT_KEYS))


class _SharedCall(Generic[T]):
    def __init__(self, task: asyncio.Task[T], note: object) -> None:
        self.task = task
        self.note = note
        self.readers = 0
        self.abandoned = False


class _SharedStream(Generic[T]):
    def __init__(self, note: object) -> None:
        self.note = note
        self.abandoned = False
        self.items: list[T] = []
        self.error: BaseException | None = None
        self.finished = False
        self.readers = 0
        self.changed = asyncio.Event()
        self.task: asyncio.Task[None] | None = None


class Coalescer:
    def __init__(self) -> None:
        self._calls: dict[Hashable, _SharedCall[Any]] = {}
        self._streams: dict[Hashable, _SharedStream[Any]] = {}
        self.shared = 0  # requests that joined another's call, for tests and metrics

    async def call(self, key: Hashable, make: Callable[[], Awaitable[T]], note: N) -> tuple[T, N]:
        """The answer, and the `note` of the request that made the call (ours or another's)."""
        shared: _SharedCall[T] | None = self._calls.get(key)
        if shared is None or shared.abandoned:
            task = asyncio.get_running_loop().create_task(_run(make))
            created = shared = _SharedCall(task, note)
            self._calls[key] = shared
            task.add_done_callback(lambda _: self._drop(self._calls, key, created))
        else:
            self.shared += 1
        shared.readers += 1
        try:
            return await asyncio.shield(shared.task), shared.note  # type: ignore[return-value]
        except asyncio.CancelledError:
            if not shared.task.done() and shared.readers == 1:
                shared.abandoned = True
                shared.task.cancel()  # the last reader left: stop the backend call
            raise
        finally:
            shared.readers -= 1

    def stream(
        self, key: Hashable, make: Callable[[], AsyncIterator[T]], note: N
    ) -> tuple[AsyncIterator[T], N]:
        """The stream from its start, and the `note` of the request that opened it."""
        shared: _SharedStream[T] | None = self._streams.get(key)
        if shared is None or shared.abandoned:
            created = shared = _SharedStream(note)
            self._streams[key] = shared
            shared.task = asyncio.get_running_loop().create_task(self._produce(shared, make))
            shared.task.add_done_callback(lambda _: self._drop(self._streams, key, created))
        else:
            self.shared += 1
        shared.readers += 1  # counted now: a reader that never starts still holds the call
        return _Reader(shared), shared.note  # type: ignore[return-value]

    @staticmethod
    async def _produce(shared: _SharedStream[T], make: Callable[[], AsyncIterator[T]]) -> None:
        source = make()
        try:
            async for item in source:
                shared.items.append(item)
                shared.changed.set()
        except asyncio.CancelledError:
            shared.error = asyncio.CancelledError()
            raise
        except Exception as exc:  # every reader gets it, after what was streamed before it
            shared.error = exc
        finally:
            shared.finished = True
            shared.changed.set()
            with contextlib.suppress(Exception):
                await source.aclose()  # type: ignore[attr-defined]

    @staticmethod
    def _drop(table: dict[Hashable, Any], key: Hashable, shared: object) -> None:
        if table.get(key) is shared:
            del table[key]


async def _run(make: Callable[[], Awaitable[T]]) -> T:
    return await make()


class _Reader(Generic[T]):
    """One request's walk through a shared stream, from its first item."""

    def __init__(self, shared: _SharedStream[T]) -> None:
        self.shared = shared
        self.position = 0
        self.closed = False

    def __aiter__(self) -> _Reader[T]:
        return self

    async def __anext__(self) -> T:
        shared = self.shared
        while not self.closed:
            if self.position < len(shared.items):
                self.position += 1
                return shared.items[self.position - 1]
            if shared.finished:
                await self.aclose()
                if shared.error is not None and not isinstance(
                    shared.error, asyncio.CancelledError
                ):
                    raise shared.error
                break
            shared.changed.clear()
            try:
                await shared.changed.wait()
            except BaseException:
                await self.aclose()
                raise
        raise StopAsyncIteration

    async def aclose(self) -> None:
        if self.closed:
            return
        self.closed = True
        shared = self.shared
        shared.readers -= 1
        if shared.readers == 0 and shared.task is not None and not shared.task.done():
            shared.abandoned = True
            shared.task.cancel()  # the last reader left: stop the backend stream
