"""Every backend call of a model goes through here: a deployment is picked, the call is
retried on retryable failures (with backoff, honouring Retry-After), breakers are fed,
and when the model cannot answer its fallbacks are tried. A stream is retried or falls
back only until its first delta; after that a failure ends it with the error."""

from __future__ import annotations

import asyncio
import dataclasses
import math
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

from universal_ai_tools.errors import (
    BackendClientError,
    BackendError,
    BackendUnavailable,
    UAITError,
)
from universal_ai_tools.llm.batching import EmbedBatcher
from universal_ai_tools.llm.coalescing import Coalescer, request_key
from universal_ai_tools.llm.deployments import Deployment, Lease, pick
from universal_ai_tools.llm.providers.base import BackendTimeout
from universal_ai_tools.llm.resilience import (
    RetryPolicy,
    context_too_long,
    counts_against_breaker,
    current_tenant,
    retryable,
)
from universal_ai_tools.llm.types import (
    ChatDelta,
    ChatMessage,
    ChatRequest,
    ChatResult,
    EmbeddingResult,
)
from universal_ai_tools.settings import ModelConfig, RoutingSettings

T = TypeVar("T")
Opened = tuple[ChatDelta, AsyncIterator[ChatDelta]]


@dataclass(slots=True)
class RouteTrace:
    """Why a request went where it went: the `X-UAIT-Route` header."""

    requested: str
    reason: str = "requested"
    served: str | None = None
    backend: str | None = None  # the backend of the deployment that answered
    notes: list[str] = field(default_factory=list)
    shared: bool = False

    def header(self) -> str:
        parts = [self.reason, *self.notes] + (["coalesced"] if self.shared else [])
        text = f"{self.served or self.requested} ({'; '.join(parts)})"
        return text.encode("ascii", "replace").decode()[:300]


class _Exhausted(Exception):
    """Every attempt at one model failed, or none of its deployments may be tried."""

    def __init__(self, error: UAITError, attempts: int) -> None:
        self.error = error
        self.attempts = attempts


class _ContextOverflow(Exception):
    def __init__(self, error: UAITError) -> None:
        self.error = error


def estimate_tokens(messages: list[ChatMessage]) -> int:
    """A rough count (four characters a token) to spot prompts too long for a model."""
    return sum(math.ceil(len(m.content or "") / 4) + 4 for m in messages)


class Dispatcher:
    def __init__(
        self,
        settings: RoutingSettings,
        deployments: dict[str, list[Deployment]],
        lookup: Callable[[str], ModelConfig],
    ) -> None:
        self.settings = settings
        self.policy = RetryPolicy.from_settings(settings)
        self.deployments = deployments
        self.lookup = lookup
        self.coalescer = Coalescer()
        self.batchers: dict[str, EmbedBatcher] = {}

    async def close(self) -> None:
        for batcher in self.batchers.values():
            await batcher.close()

    # -- the three calls -------------------------------------------------------------

    async def chat(self, model: ModelConfig, request: ChatRequest, trace: RouteTrace) -> ChatResult:
        key = self._key(model, request, "chat")
        if key is None:
            return await self._chat(model, request, trace)
        result, leader = await self.coalescer.call(
            key, lambda: self._chat(model, request, trace), trace
        )
        _follow(trace, leader)
        return result

    async def _chat(
        self, model: ModelConfig, request: ChatRequest, trace: RouteTrace
    ) -> ChatResult:
        async def call(deployment: Deployment) -> ChatResult:
            return await deployment.provider.chat(_for(request, deployment))

        result, _ = await self._chain(model, call, trace, _prompt_size(request))
        return result

    def stream_chat(
        self, model: ModelConfig, request: ChatRequest, trace: RouteTrace
    ) -> AsyncIterator[ChatDelta]:
        key = self._key(model, request, "stream")
        if key is None:
            return self._stream(model, request, trace)
        shared, leader = self.coalescer.stream(
            key, lambda: self._stream(model, request, trace), trace
        )
        return _following(shared, trace, leader)

    async def _stream(
        self, model: ModelConfig, request: ChatRequest, trace: RouteTrace
    ) -> AsyncIterator[ChatDelta]:
        async def open_stream(deployment: Deployment) -> Opened:
            return await _first_delta(deployment, _for(request, deployment))

        (first, rest), lease = await self._chain(
            model, open_stream, trace, _prompt_size(request), hold=True
        )
        outcome: BaseException | None = None
        try:
            yield first
            async for delta in rest:
                yield delta
        except BaseException as exc:
            outcome = exc
            raise
        finally:
            await rest.aclose()  # type: ignore[attr-defined]
            _settle(lease, outcome)

    async def embed(
        self, model: ModelConfig, inputs: list[str], trace: RouteTrace
    ) -> EmbeddingResult:
        deployments = self.deployments[model.name]
        if self.settings.embed_batch_window <= 0 or not any(d.remote for d in deployments):
            return await self._embed(model, inputs, trace)  # the embedded model batches itself
        batcher = self.batchers.get(model.name)
        if batcher is None:
            batcher = EmbedBatcher(
                lambda texts: self._embed(model, texts, RouteTrace(model.name)),
                self.settings.embed_batch_window,
                self.settings.embed_batch_max,
            )
            self.batchers[model.name] = batcher
        trace.served = model.name
        return await batcher.embed(inputs)

    async def _embed(
        self, model: ModelConfig, inputs: list[str], trace: RouteTrace
    ) -> EmbeddingResult:
        async def call(deployment: Deployment) -> EmbeddingResult:
            return await deployment.provider.embed(deployment.target, inputs)

        result, _ = await self._chain(model, call, trace, 0)
        return result

    # -- fallbacks, attempts ---------------------------------------------------------

    async def _chain(
        self,
        model: ModelConfig,
        call: Callable[[Deployment], Awaitable[T]],
        trace: RouteTrace,
        prompt_tokens: int,
        *,
        hold: bool = False,
    ) -> tuple[T, Lease]:
        """Try the model, then its fallbacks; a prompt too long goes to `context_fallback`."""
        queue = [model.name, *model.fallbacks]
        tried: set[str] = set()
        error: UAITError | None = None
        while queue:
            current = self.lookup(queue.pop(0))
            if current.name in tried:
                continue
            tried.add(current.name)
            if (
                current.context_fallback
                and current.context_size
                and prompt_tokens > current.context_size
            ):
                trace.notes.append(f"prompt too long for {current.name}")
                queue.insert(0, current.context_fallback)
                continue
            try:
                value, lease = await self._attempts(current, call, hold=hold)
            except _ContextOverflow as overflow:
                if not current.context_fallback:
                    raise overflow.error from None
                trace.notes.append(f"{current.name} rejected the prompt as too long")
                queue.insert(0, current.context_fallback)
                continue
            except _Exhausted as exhausted:
                error = exhausted.error
                if queue:
                    attempts = exhausted.attempts
                    trace.notes.append(
                        f"{current.name} failed {attempts} attempt{'s' * (attempts != 1)}"
                        if attempts
                        else f"{current.name} has no healthy deployment"
                    )
                continue
            if current.name != trace.requested:
                trace.notes.append("fallback")
            trace.served = current.name
            trace.backend = lease.deployment.backend
            return value, lease
        raise error or BackendUnavailable(f"model {model.name!r} has no usable deployment")

    async def _attempts(
        self, model: ModelConfig, call: Callable[[Deployment], Awaitable[T]], *, hold: bool
    ) -> tuple[T, Lease]:
        deployments = self.deployments[model.name]
        excluded: set[Deployment] = set()
        previous: Deployment | None = None
        delay = 0.0
        last: UAITError | None = None
        made = 0
        for attempt in range(1, self.policy.attempts + 1):
            deployment = pick(deployments, excluded)
            if deployment is not None and deployment is previous and delay > 0:
                await asyncio.sleep(delay)  # back off before asking the same one again
                deployment = pick(deployments, excluded)
            if deployment is None:
                break
            lease = await deployment.acquire()
            made += 1
            try:
                value = await call(deployment)
            except BaseException as exc:
                _settle(lease, exc)
                if context_too_long(exc):
                    raise _ContextOverflow(exc) from None  # type: ignore[arg-type]
                if not retryable(exc):
                    raise
                assert isinstance(exc, UAITError)
                last = exc
                wait = self.policy.delay(attempt, exc)
                deployment.cool_down(getattr(exc, "retry_after", None) or self.settings.cooldown)
                if wait is None:  # it asked for longer than we wait: try the others
                    excluded.add(deployment)
                previous, delay = deployment, wait or 0.0
                continue
            if not hold:
                _settle(lease, None)
            return value, lease
        raise _Exhausted(last or _unavailable(model, deployments), made)

    def _key(self, model: ModelConfig, request: ChatRequest, kind: str) -> object | None:
        if not self.settings.coalesce:
            return None
        return request_key((current_tenant.get(), model.name, kind), request)


def _for(request: ChatRequest, deployment: Deployment) -> ChatRequest:
    if request.target == deployment.target:
        return request
    return dataclasses.replace(request, target=deployment.target)


def _prompt_size(request: ChatRequest) -> int:
    return estimate_tokens(request.messages) + (request.max_tokens or 0)


async def _first_delta(deployment: Deployment, request: ChatRequest) -> Opened:
    """Open the stream and wait for its first delta (within the first-token timeout)."""
    stream = deployment.provider.stream_chat(request)
    timeout = deployment.first_token_timeout
    try:
        async with asyncio.timeout(timeout):
            first = await anext(stream)
    except StopAsyncIteration:
        raise BackendError(f"backend {deployment.backend!r} ended the stream at once") from None
    except TimeoutError:
        await stream.aclose()  # type: ignore[attr-defined]
        raise BackendTimeout(
            f"backend {deployment.backend!r} sent no first token within {timeout:g}s"
        ) from None
    except BaseException:
        await stream.aclose()  # type: ignore[attr-defined]
        raise
    return first, stream


def _settle(lease: Lease, outcome: BaseException | None) -> None:
    """End a lease with the breaker's verdict on how the call went."""
    if outcome is None or isinstance(outcome, BackendClientError):
        lease.end(None, counts=False)  # answered (a 4xx too: the backend is up)
    else:
        lease.end(outcome, counts=counts_against_breaker(outcome))


def _unavailable(model: ModelConfig, deployments: list[Deployment]) -> UAITError:
    reasons = [
        f"backend {d.backend!r} circuit {d.breaker.state}"
        + (f" after: {d.breaker.last_error}" if d.breaker.last_error else "")
        for d in deployments
    ]
    return BackendUnavailable(
        f"model {model.name!r} has no healthy deployment ({'; '.join(reasons)})"
    )


def _follow(trace: RouteTrace, leader: RouteTrace) -> None:
    """A coalesced request reports the route of the call it shared."""
    if leader is trace or trace.shared:
        return
    trace.served = leader.served
    trace.backend = leader.backend
    trace.notes = list(leader.notes)
    trace.shared = True


async def _following(
    deltas: AsyncIterator[ChatDelta], trace: RouteTrace, leader: RouteTrace
) -> AsyncIterator[ChatDelta]:
    """A shared stream, read by one request: its trace reports the shared call's route."""
    try:
        async for delta in deltas:
            _follow(trace, leader)
            yield delta
    finally:
        await deltas.aclose()  # type: ignore[attr-defined]
