"""Embedding requests that arrive within a few milliseconds go to the backend as one call."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import numpy as np

from universal_ai_tools.llm.types import EmbeddingResult

Embed = Callable[[list[str]], Awaitable[EmbeddingResult]]


@dataclass
class _Waiting:
    inputs: list[str]
    done: asyncio.Future[EmbeddingResult] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


class EmbedBatcher:
    """Collects inputs for `window` seconds (or until `max_inputs`), then makes one call and
    hands each request its own rows; token counts are shared out by input length."""

    def __init__(self, embed: Embed, window: float, max_inputs: int) -> None:
        self._embed = embed
        self.window = window
        self.max_inputs = max_inputs
        self._waiting: list[_Waiting] = []
        self._size = 0
        self._timer: asyncio.TimerHandle | None = None
        self._flushes: set[asyncio.Task[None]] = set()
        self.calls = 0  # backend calls made, for tests and metrics

    async def embed(self, inputs: list[str]) -> EmbeddingResult:
        if len(inputs) >= self.max_inputs:
            self.calls += 1
            return await self._embed(inputs)
        if self._size + len(inputs) > self.max_inputs:
            self._flush()
        waiting = _Waiting(list(inputs))
        self._waiting.append(waiting)
        self._size += len(inputs)
        if self._size >= self.max_inputs:
            self._flush()
        elif self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self.window, self._flush)
        return await asyncio.shield(waiting.done)

    def _flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        batch, self._waiting, self._size = self._waiting, [], 0
        if batch:
            task = asyncio.get_running_loop().create_task(self._run(batch))
            self._flushes.add(task)
            task.add_done_callback(self._flushes.discard)

    async def _run(self, batch: list[_Waiting]) -> None:
        self.calls += 1
        texts = [text for waiting in batch for text in waiting.inputs]
        try:
            result = await self._embed(texts)
        except Exception as exc:  # every request of the batch gets the failure
            for waiting in batch:
                if not waiting.done.done():
                    waiting.done.set_exception(exc)
            return
        vectors = np.asarray(result.vectors)
        total_chars = sum(len(text) for text in texts) or 1
        start = 0
        for waiting in batch:
            rows = vectors[start : start + len(waiting.inputs)]
            start += len(waiting.inputs)
            chars = sum(len(text) for text in waiting.inputs)
            tokens = round(result.prompt_tokens * chars / total_chars)
            if not waiting.done.done():
                waiting.done.set_result(EmbeddingResult(vectors=rows, prompt_tokens=tokens))

    async def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        for task in list(self._flushes):
            task.cancel()
