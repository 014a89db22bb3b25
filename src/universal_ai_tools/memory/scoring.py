"""Similarity and relevance of memories: vectors as bytes, cosine, recency, token estimates.

Embeddings are stored as float32 little-endian bytes. When no embedding model is
configured (or a stored vector has another size than the query's), similarity falls back
to the cosine of the two texts' sets of content words, so memory keeps working, only
less cleverly.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import numpy.typing as npt

from universal_ai_tools.memory.extract import word_set

Vector = npt.NDArray[np.float32]

MIN_RELEVANCE = 0.2  # cosine similarity under which a memory is never used as context
RECENCY_WEIGHT = 0.05  # the largest recency bonus, for a memory changed just now
RECENCY_HALF_LIFE_DAYS = 30.0  # the bonus halves every this many days

_WORD = re.compile(r"\w+")
_STOPWORDS = word_set(
    "a an and are as at be but by do does for from i in is it me my of on or s so "
    "that the their they this to user was what when where which who why with you your"
)


@dataclass(frozen=True, slots=True)
class Probe:
    """A text to compare memories with, and its embedding when a model made one."""

    text: str
    vector: Vector | None


def to_bytes(vector: Vector | None) -> bytes:
    return b"" if vector is None else np.asarray(vector, dtype="<f4").tobytes()


def from_bytes(raw: bytes) -> Vector | None:
    return np.frombuffer(raw, dtype="<f4").astype(np.float32) if raw else None


def _words(text: str) -> frozenset[str]:
    return frozenset(w for w in _WORD.findall(text.lower()) if w not in _STOPWORDS)


def lexical_similarity(a: str, b: str) -> float:
    """Cosine of the two texts' sets of content words, in [0, 1]."""
    left, right = _words(a), _words(b)
    if not left or not right:
        return 0.0
    return len(left & right) / math.sqrt(len(left) * len(right))


def similarities(probe: Probe, items: Sequence[tuple[bytes, str]]) -> list[float]:
    """The similarity of `probe` to each (embedding bytes, text): cosine of the unit
    vectors when both have one of the same size, else the lexical fallback."""
    scores = [0.0] * len(items)
    rows: list[int] = []
    vectors: list[Vector] = []
    for index, (raw, text) in enumerate(items):
        vector = from_bytes(raw) if probe.vector is not None else None
        if vector is not None and probe.vector is not None and vector.shape == probe.vector.shape:
            rows.append(index)
            vectors.append(vector)
        else:
            scores[index] = lexical_similarity(probe.text, text)
    if vectors and probe.vector is not None:
        matrix = np.vstack(vectors)
        norms = np.linalg.norm(matrix, axis=1) * float(np.linalg.norm(probe.vector))
        cosines = (matrix @ probe.vector) / np.maximum(norms, 1e-12)
        for index, value in zip(rows, cosines.tolist(), strict=True):
            scores[index] = float(value)
    return scores


def recency_bonus(updated_at: datetime, now: datetime) -> float:
    """`RECENCY_WEIGHT * 0.5 ** (age_days / RECENCY_HALF_LIFE_DAYS)`: 0.05 for a memory
    changed now, 0.025 after 30 days, almost nothing after a few months."""
    age_days = max((now - updated_at).total_seconds(), 0.0) / 86_400
    return float(RECENCY_WEIGHT * 0.5 ** (age_days / RECENCY_HALF_LIFE_DAYS))


def estimate_tokens(text: str) -> int:
    """A cheap, model-independent estimate: about four characters a token."""
    return len(text) // 4 + 1
