"""pgvector's `vector` type for SQLAlchemy, and the dimension of the indexed embeddings.

Vectors travel as pgvector's text form (`[0.1,0.2,...]`), which asyncpg sends and reads
as text without a codec of its own. Cosine distance (`<=>`) is 1 - cosine similarity;
the HNSW indexes use `vector_cosine_ops`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import Dialect
from sqlalchemy.types import UserDefinedType

Vector = npt.NDArray[np.float32]
DIMENSIONS = 384  # all-MiniLM-L6-v2, the embedded embedding model


def indexable(vector: Vector | None) -> bool:
    """Whether the vector columns (`vector(DIMENSIONS)`) can hold `vector`."""
    return vector is not None and vector.shape == (DIMENSIONS,)


def to_text(vector: Vector) -> str:
    return "[" + ",".join(repr(float(value)) for value in vector) + "]"


def from_text(text: str) -> Vector:
    return np.array([float(value) for value in text.strip("[]").split(",")], dtype=np.float32)


class PgVector(UserDefinedType[Vector]):
    """`vector(n)`; binds NumPy arrays, reads them back as float32 arrays."""

    cache_ok = True

    def __init__(self, dimensions: int = DIMENSIONS) -> None:
        self.dimensions = dimensions

    def get_col_spec(self, **kw: Any) -> str:
        return f"vector({self.dimensions})"

    def bind_processor(self, dialect: Dialect) -> Callable[[Vector | None], str | None]:
        def process(value: Vector | None) -> str | None:
            return None if value is None else to_text(value)

        return process

    def result_processor(
        self, dialect: Dialect, coltype: object
    ) -> Callable[[str | None], Vector | None]:
        def process(value: str | None) -> Vector | None:
            return None if value is None else from_text(value)

        return process
