"""Embeddings in both wire formats: `POST /v1/embeddings` (OpenAI) and `POST /api/embed`,
`POST /api/embeddings` (Ollama)."""

from __future__ import annotations

import base64
import time
from typing import Annotated, Literal

import numpy as np
import numpy.typing as npt
import orjson
from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from universal_ai_tools.auth.deps import (
    IdentityDep,
    MemberDep,
    authorize_model_use,
)
from universal_ai_tools.auth.identity import Identity
from universal_ai_tools.auth.principal import Principal
from universal_ai_tools.body import json_body
from universal_ai_tools.errors import BadRequest
from universal_ai_tools.llm.deps import RegistryDep
from universal_ai_tools.llm.routing import ModelRegistry
from universal_ai_tools.llm.types import EmbeddingResult

Matrix = npt.NDArray[np.float32]
MAX_INPUTS = 2048
MAX_INPUT_CHARS = 100_000

router = APIRouter(tags=["embeddings"])


class OpenAIEmbeddingRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    model: str = Field(min_length=1, max_length=256)
    input: str | list[str] | list[int] | list[list[int]]
    encoding_format: Literal["float", "base64"] = "float"
    dimensions: int | None = Field(default=None, ge=1)
    user: str | None = None


class OllamaEmbedRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    model: str = Field(min_length=1, max_length=256)
    input: str | list[str] = ""
    truncate: bool = True
    dimensions: int | None = Field(default=None, ge=1)


class OllamaLegacyEmbeddingsRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    model: str = Field(min_length=1, max_length=256)
    prompt: str


def checked_inputs(raw: object) -> list[str]:
    """A string or a list of strings, within documented limits; anything else is a 400."""
    inputs = [raw] if isinstance(raw, str) else raw
    if not isinstance(inputs, list) or not all(isinstance(item, str) for item in inputs):
        raise BadRequest(
            "input must be a string or a list of strings (token arrays are not supported)"
        )
    if not inputs:
        raise BadRequest("input must not be empty")
    if len(inputs) > MAX_INPUTS:
        raise BadRequest(f"at most {MAX_INPUTS} inputs per request, got {len(inputs)}")
    for index, text in enumerate(inputs):
        if not text.strip():
            raise BadRequest(f"input[{index}] is empty")
        if len(text) > MAX_INPUT_CHARS:
            raise BadRequest(
                f"input[{index}] is {len(text)} characters; the limit is {MAX_INPUT_CHARS}"
            )
    return [str(item) for item in inputs]


def shortened(vectors: Matrix, dimensions: int | None) -> Matrix:
    """Keep the first `dimensions` components and renormalize, as OpenAI's parameter does."""
    if dimensions is None or dimensions == vectors.shape[1]:
        return vectors
    if dimensions > vectors.shape[1]:
        raise BadRequest(f"dimensions must be at most {vectors.shape[1]} for this model")
    cut = vectors[:, :dimensions]
    norms = np.linalg.norm(cut, axis=1, keepdims=True)
    result: Matrix = (cut / np.maximum(norms, 1e-12)).astype(np.float32)
    return result


async def _embed(
    principal: Principal, identity: Identity, registry: ModelRegistry, model: str, inputs: list[str]
) -> EmbeddingResult:
    await authorize_model_use(principal, identity, registry, model)
    route = registry.route(model, kind="embedding")
    result = await route.provider.embed(route.target, inputs)
    if (result.prompt_tokens and principal.daily_tokens) or principal.user_daily_tokens:
        from universal_ai_tools.auth.deps import record_token_use

        await record_token_use(principal, identity, result.prompt_tokens)
    return result


OpenAIBody = Annotated[OpenAIEmbeddingRequest, Depends(json_body(OpenAIEmbeddingRequest))]
OllamaBody = Annotated[OllamaEmbedRequest, Depends(json_body(OllamaEmbedRequest))]
LegacyBody = Annotated[
    OllamaLegacyEmbeddingsRequest, Depends(json_body(OllamaLegacyEmbeddingsRequest))
]


@router.post("/v1/embeddings")
async def openai_embeddings(
    body: OpenAIBody, principal: MemberDep, identity: IdentityDep, registry: RegistryDep
) -> Response:
    inputs = checked_inputs(body.input)
    result = await _embed(principal, identity, registry, body.model, inputs)
    vectors = shortened(np.asarray(result.vectors, dtype=np.float32), body.dimensions)
    if body.encoding_format == "base64":
        encoded: list[object] = [
            base64.b64encode(row.astype("<f4").tobytes()).decode() for row in vectors
        ]
    else:
        encoded = [row.tolist() for row in vectors]
    data = [
        {"object": "embedding", "index": index, "embedding": embedding}
        for index, embedding in enumerate(encoded)
    ]
    usage = {"prompt_tokens": result.prompt_tokens, "total_tokens": result.prompt_tokens}
    payload = {"object": "list", "data": data, "model": body.model, "usage": usage}
    return Response(orjson.dumps(payload), media_type="application/json")


@router.post("/api/embed")
async def ollama_embed(
    body: OllamaBody, principal: MemberDep, identity: IdentityDep, registry: RegistryDep
) -> Response:
    started = time.perf_counter_ns()
    inputs = checked_inputs(body.input)
    result = await _embed(principal, identity, registry, body.model, inputs)
    vectors = shortened(np.asarray(result.vectors, dtype=np.float32), body.dimensions)
    payload = {
        "model": body.model,
        "embeddings": vectors.tolist(),
        "total_duration": time.perf_counter_ns() - started,
        "load_duration": 0,
        "prompt_eval_count": result.prompt_tokens,
    }
    return Response(orjson.dumps(payload), media_type="application/json")


@router.post("/api/embeddings")
async def ollama_legacy_embeddings(
    body: LegacyBody, principal: MemberDep, identity: IdentityDep, registry: RegistryDep
) -> Response:
    """Ollama's older single-prompt endpoint."""
    result = await _embed(principal, identity, registry, body.model, checked_inputs(body.prompt))
    vectors = np.asarray(result.vectors, dtype=np.float32)
    return Response(orjson.dumps({"embedding": vectors[0].tolist()}), media_type="application/json")
