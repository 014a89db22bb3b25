"""The small protocol every model backend implements."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Protocol

from universal_ai_tools.errors import BackendError, BackendUnavailable
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

    kind: str

    @property
    def name(self) -> str:
        """The backend's name (a routed model's facade: the backend that answered)."""
        ...

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


class BackendUnreachable(BackendUnavailable):
    """The backend refused or dropped the connection before answering."""


class BackendTimeout(BackendUnavailable):
    """The backend did not answer (or send a first token) in time."""


class BackendBusy(BackendUnavailable):
    """The backend is up but has no room for the request now (a full queue)."""


class RateLimited(BackendUnavailable):
    """The backend answered 429; `retry_after` is its Retry-After in seconds, if it sent one."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class BackendServerError(BackendError):
    """The backend answered 5xx (other than 503, which is `BackendUnavailable`)."""

    def __init__(self, message: str, *, status: int) -> None:
        super().__init__(message)
        self.status = status


ProviderFactory = Callable[[BackendConfig, Settings], Provider]
RegisterProvider = Callable[[str, ProviderFactory], None]
