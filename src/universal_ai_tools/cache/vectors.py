"""The semantic cache's nearest-neighbour index: a small protocol, and its in-process
(NumPy) implementation. `cache.pgvector_index` is the PostgreSQL one.

An index maps entry ids to (scope, vector); it never knows whether an entry is still
alive: the store that owns the entries asks for a few nearest ids and takes the first
live one, and tells the index to forget the ids it found dead.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np

from universal_ai_tools.cache.entries import Vector

Scope = tuple[str, str, str]  # organization, model, context


class VectorIndex(Protocol):
    async def add(self, scope: Scope, entry_id: str, vector: Vector, created_at: float) -> None:
        """Index (or re-index) `entry_id` under `scope`."""

    async def nearest(
        self, scope: Scope, vector: Vector, threshold: float, limit: int
    ) -> list[tuple[str, float]]:
        """Up to `limit` (id, cosine similarity ≥ threshold) in `scope`, nearest first."""

    async def remove(self, entry_ids: Sequence[str]) -> None: ...

    async def flush(self, org_id: str, model: str | None) -> None:
        """Forget the organization's ids (of one model when `model` is given)."""


class NumpyVectorIndex:
    """Vectors in process, one matrix per scope (rebuilt after a change), scored by a
    matrix product: the vectors are unit length, so the dot product is the cosine."""

    def __init__(self) -> None:
        self._scopes: dict[Scope, dict[str, Vector]] = {}
        self._matrices: dict[Scope, tuple[list[str], Vector]] = {}
        self._scope_of: dict[str, Scope] = {}

    def discard(self, entry_id: str) -> None:
        scope = self._scope_of.pop(entry_id, None)
        if scope is None:
            return
        vectors = self._scopes[scope]
        del vectors[entry_id]
        self._matrices.pop(scope, None)
        if not vectors:
            del self._scopes[scope]

    async def add(self, scope: Scope, entry_id: str, vector: Vector, created_at: float) -> None:
        self.discard(entry_id)
        self._scopes.setdefault(scope, {})[entry_id] = vector
        self._scope_of[entry_id] = scope
        self._matrices.pop(scope, None)

    async def nearest(
        self, scope: Scope, vector: Vector, threshold: float, limit: int
    ) -> list[tuple[str, float]]:
        vectors = self._scopes.get(scope)
        if not vectors:
            return []
        if scope not in self._matrices:
            ids = list(vectors)
            self._matrices[scope] = (ids, np.stack([vectors[i] for i in ids]))
        ids, matrix = self._matrices[scope]
        if matrix.shape[1] != vector.shape[0]:
            return []
        similarities = matrix @ vector
        found: list[tuple[str, float]] = []
        for index in np.argsort(-similarities)[:limit]:
            similarity = float(similarities[index])
            if similarity < threshold:
                break
            found.append((ids[int(index)], similarity))
        return found

    async def remove(self, entry_ids: Sequence[str]) -> None:
        for entry_id in entry_ids:
            self.discard(entry_id)

    async def flush(self, org_id: str, model: str | None) -> None:
        doomed = [
            entry_id
            for entry_id, (org, entry_model, _) in self._scope_of.items()
            if org == org_id and (model is None or entry_model == model)
        ]
        await self.remove(doomed)
