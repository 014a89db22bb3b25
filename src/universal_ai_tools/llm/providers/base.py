"""The small protocol every model backend implements."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Protocol

from universal_ai_tools.llm.types import (
    ChatDelta,
    ChatRequest,
    ChatResult,
    EmbeddingResult,
    ModelInfo,
)
from universal_ai_tools.settings import BackendConfig, Settings


class Provider(Protocol):
    """A backend serving one or more models. `start`/`close` bracket its life."""

    name: str
    kind: str

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def chat(self, request: ChatRequest) -> ChatResult: ...

    def stream_chat(self, request: ChatRequest) -> AsyncIterator[ChatDelta]:
        """Yield deltas; the last one carries `finish_reason` and `usage`.

        Closing the iterator early cancels the generation on the backend.
        """
        ...

    async def embed(self, target: str, inputs: list[str]) -> EmbeddingResult:
        """Unit-length (for the embedded model) float32 vectors, one row per input."""
        ...

    async def list_models(self) -> list[ModelInfo]: ...

    async def model_info(self, target: str) -> ModelInfo: ...

    async def health(self) -> bool: ...


ProviderFactory = Callable[[BackendConfig, Settings], Provider]
RegisterProvider = Callable[[str, ProviderFactory], None]
