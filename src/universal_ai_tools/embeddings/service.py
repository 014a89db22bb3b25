"""The embedded embedding model behind an async, batching front.

Requests that arrive while a batch is being computed wait and go together into the
next one, so a burst of small requests costs a few forward passes, not one each.
Computation runs on one worker thread, never on the event loop.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from universal_ai_tools.embeddings.minilm import MiniLMEmbedder

Matrix = npt.NDArray[np.float32]
MAX_BATCH_TEXTS = 256


@dataclass
class _Pending:
    texts: list[str]
    done: asyncio.Future[tuple[Matrix, list[int]]] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


class EmbeddingService:
    def __init__(self, model: MiniLMEmbedder) -> None:
        self.model = model
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="uait-embed")
        self._pending: list[_Pending] = []
        self._worker: asyncio.Task[None] | None = None
        self.batches = 0  # forward-pass batches run, for tests and metrics

    @classmethod
    async def load(cls) -> EmbeddingService:
        return cls(await asyncio.to_thread(MiniLMEmbedder.shared))

    @property
    def dimensions(self) -> int:
        return self.model.dimensions

    async def close(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
        self._executor.shutdown(wait=False, cancel_futures=True)

    async def embed(self, texts: list[str]) -> tuple[Matrix, list[int]]:
        """Unit vectors, one row per text, and each text's token count."""
        pending = _Pending(list(texts))
        self._pending.append(pending)
        if self._worker is None or self._worker.done():
            self._worker = asyncio.get_running_loop().create_task(self._drain())
        return await asyncio.shield(pending.done)

    async def embed_one(self, text: str) -> npt.NDArray[np.float32]:
        vectors, _ = await self.embed([text])
        row: npt.NDArray[np.float32] = vectors[0]
        return row

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        while self._pending:
            batch: list[_Pending] = []
            size = 0
            while self._pending and (
                not batch or size + len(self._pending[0].texts) <= MAX_BATCH_TEXTS
            ):
                item = self._pending.pop(0)
                batch.append(item)
                size += len(item.texts)
            texts = [t for item in batch for t in item.texts]
            try:
                vectors, counts = await loop.run_in_executor(self._executor, self._compute, texts)
            except Exception as exc:  # handed to every waiting caller
                for item in batch:
                    if not item.done.done():
                        item.done.set_exception(exc)
                continue
            self.batches += 1
            start = 0
            for item in batch:
                end = start + len(item.texts)
                if not item.done.done():
                    item.done.set_result((vectors[start:end], counts[start:end]))
                start = end

    def _compute(self, texts: list[str]) -> tuple[Matrix, list[int]]:
        return self.model.embed_with_counts(texts)
