"""What the cache stores, and how a chat request becomes a cache key."""

from __future__ import annotations

import hashlib
import re
import time
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import orjson

from universal_ai_tools.llm.types import ChatRequest

Vector = npt.NDArray[np.float32]
_SPACES = re.compile(r"\s+")


def normalize(text: str) -> str:
    return _SPACES.sub(" ", text).strip()


@dataclass(frozen=True, slots=True)
class CacheKey:
    """`context` covers everything but the last user turn: organization, model, system
    prompt, earlier turns and every generation parameter that changes the answer. Two
    requests can share an answer only when their contexts are identical."""

    org_id: str
    model: str
    context: str
    prompt: str
    exact: str

    @property
    def scope(self) -> tuple[str, str, str]:
        return (self.org_id, self.model, self.context)


def cache_key(org_id: str, model: str, request: ChatRequest) -> CacheKey | None:
    """None when the request cannot be answered from the cache (its last turn is not a
    user message, or it carries images or tool calls)."""
    if not request.messages or request.messages[-1].role != "user":
        return None
    if any(m.images or m.tool_calls or m.tool_call_id for m in request.messages):
        return None
    prompt = normalize(request.messages[-1].content or "")
    if not prompt:
        return None
    context = orjson.dumps(
        {
            "org": org_id,
            "model": model,
            "history": [[m.role, normalize(m.content or "")] for m in request.messages[:-1]],
            "temperature": request.temperature,
            "top_p": request.top_p,
            "max_tokens": request.max_tokens,
            "stop": request.stop,
            "seed": request.seed,
            "json": request.json_mode,
            "tools": [t.model_dump() for t in request.tools or ()],
            "tool_choice": request.tool_choice,
        },
        option=orjson.OPT_SORT_KEYS,
    )
    context_hash = hashlib.sha256(context).hexdigest()
    exact = hashlib.sha256(f"{context_hash}\n{prompt}".encode()).hexdigest()
    return CacheKey(org_id, model, context_hash, prompt, exact)


@dataclass(slots=True)
class CacheEntry:
    id: str  # the exact key
    org_id: str
    model: str
    context: str
    prompt: str
    answer: str
    finish_reason: str
    prompt_tokens: int
    completion_tokens: int
    vector: Vector | None = None
    created_at: float = field(default_factory=time.time)
    last_hit_at: float | None = None
    hits: int = 0
