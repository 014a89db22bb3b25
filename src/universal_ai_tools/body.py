"""Request bodies parsed as JSON whatever the Content-Type (curl users often omit it)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

import orjson
from pydantic import BaseModel, ValidationError
from starlette.requests import Request

from universal_ai_tools.errors import BadRequest

M = TypeVar("M", bound=BaseModel)


def describe_validation_error(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors()[:3]:
        location = ".".join(str(p) for p in error["loc"] if p != "body") or "body"
        message = error["msg"].removeprefix("Value error, ")
        parts.append(f"{location}: {message}")
    more = len(exc.errors()) - 3
    return "; ".join(parts) + (f" (and {more} more)" if more > 0 else "")


def json_body(model: type[M]) -> Callable[[Request], Awaitable[M]]:
    """A dependency that parses the body into `model`, answering 400 with a clear message."""

    async def parse(request: Request) -> M:
        raw = await request.body()
        if not raw.strip():
            raise BadRequest("the request body is empty; send a JSON object")
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise BadRequest("the request body is not valid JSON") from None
        if not isinstance(data, dict):
            raise BadRequest("the request body must be a JSON object")
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            raise BadRequest(describe_validation_error(exc)) from None

    return parse
