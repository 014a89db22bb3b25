"""Where exceptions become HTTP answers, in the error shape of the route family.

`/api/*` (Ollama) answers `{"error": "message"}`; everything else answers OpenAI's
`{"error": {"message", "type", "code"}}`. No stack trace or path ever leaves here.
"""

from __future__ import annotations

import logging

import orjson
from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from opentelemetry import trace
from pydantic import ValidationError
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from universal_ai_tools.auth.deps import presented_credential
from universal_ai_tools.body import describe_validation_error
from universal_ai_tools.errors import PayloadTooLarge, UAITError, Unauthorized

logger = logging.getLogger(__name__)

_HTTP_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    405: "invalid_request_error",
    413: "invalid_request_error",
}


def _trace_id() -> str | None:
    context = trace.get_current_span().get_span_context()
    return format(context.trace_id, "032x") if context.is_valid else None


def error_body(path: str, status: int, message: str, error_type: str, code: str) -> bytes:
    """The error in the route family's shape, with the trace id to find it in the traces."""
    trace_id = _trace_id()
    if path.startswith("/api/"):
        ollama: dict[str, str] = {"error": message}
        if trace_id:
            ollama["trace_id"] = trace_id
        return orjson.dumps(ollama)
    error = {"message": message, "type": error_type, "code": code}
    if trace_id:
        error["trace_id"] = trace_id
    return orjson.dumps({"error": error})


def error_response(
    path: str,
    status: int,
    message: str,
    error_type: str,
    code: str,
    retry_after: int | None = None,
) -> Response:
    body = error_body(path, status, message, error_type, code)
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else {}
    if retry_after is not None:
        headers["Retry-After"] = str(retry_after)
    return Response(body, status_code=status, media_type="application/json", headers=headers)


PUBLIC_PATHS = frozenset(
    {
        "/health",
        "/ready",
        "/auth/login",
        "/auth/refresh",
        "/auth/logout",
        "/auth/register",
        "/auth/device/challenge",
        "/auth/device/login",
    }
)


async def _unauthenticated(request: Request) -> Unauthorized | None:
    """Bodies are read before credentials are checked; a caller without valid credentials
    learns nothing from a body error on a private route: it gets the 401 instead."""
    if request.url.path in PUBLIC_PATHS or not hasattr(request.app.state, "identity"):
        return None
    credential = presented_credential(request)
    if credential is None:
        return Unauthorized("missing credentials: send `Authorization: Bearer <token>`")
    try:
        await request.app.state.identity.authenticator.authenticate(credential)
    except Unauthorized as refused:
        return refused
    return None


async def _uait_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, UAITError)
    if exc.status_code in (400, 413, 422):
        exc = await _unauthenticated(request) or exc
    retry_after = getattr(exc, "retry_after", None)
    metrics = getattr(request.app.state, "metrics", None)
    if metrics is not None and exc.status_code == 401:
        metrics.auth_failures.labels(exc.code).inc()
    if metrics is not None and exc.status_code == 429:
        metrics.rate_limited.labels(exc.code).inc()
    return error_response(
        request.url.path, exc.status_code, exc.message, exc.error_type, exc.code, retry_after
    )


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    message = exc.detail if isinstance(exc.detail, str) else "request failed"
    if exc.status_code == 404:
        message = f"no route for {request.method} {request.url.path}"
    error_type = _HTTP_TYPES.get(exc.status_code, "invalid_request_error")
    code = message.lower().replace(" ", "_") if exc.status_code != 404 else "not_found"
    return error_response(request.url.path, exc.status_code, message, error_type, code[:40])


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError | ValidationError)
    refused = await _unauthenticated(request)
    if refused is not None:
        return await _uait_error(request, refused)
    if isinstance(exc, ValidationError):
        message = describe_validation_error(exc)
    else:
        message = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()[:3]
        )
    return error_response(
        request.url.path, 400, message, "invalid_request_error", "invalid_request"
    )


def _sqlstate(exc: DBAPIError) -> str:
    """The SQLSTATE of a PostgreSQL error ("" for other databases)."""
    return str(getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None) or "")


async def _database_refused(request: Request, exc: Exception) -> Response:
    """A value the database will not store (PostgreSQL checks what SQLite lets through:
    text with NUL characters, strings over a column's length, integers out of range:
    SQLSTATE class 22), or a write that lost a race for a unique name (class 23): the
    request's fault, never a 500. Any other database error is one."""
    assert isinstance(exc, DBAPIError)
    if request.scope["type"] != "http":  # a WebSocket: its own loop answers, or it closes
        raise exc
    state = _sqlstate(exc)
    conflict = isinstance(exc, IntegrityError) or state.startswith("23")
    if not (conflict or isinstance(exc, DataError) or state.startswith("22")):
        return await _unexpected_error(request, exc)
    logger.info("database refused %s %s: %s", request.method, request.url.path, exc.orig)
    if conflict:
        message = "the request conflicts with an object that exists already"
        return error_response(request.url.path, 409, message, "invalid_request_error", "conflict")
    refused = await _unauthenticated(request)
    if refused is not None:
        return await _uait_error(request, refused)
    message = (
        "a value in the request cannot be stored: text with a NUL character, a value "
        "too long for its field, or a number out of range"
    )
    return error_response(request.url.path, 400, message, "invalid_request_error", "invalid_value")


async def _unexpected_error(request: Request, exc: Exception) -> Response:
    logger.exception("unhandled error on %s %s", request.method, request.url.path)
    return error_response(
        request.url.path, 500, "internal server error", "server_error", "internal_error"
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(UAITError, _uait_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(ValidationError, _validation_error)
    app.add_exception_handler(DBAPIError, _database_refused)
    app.add_exception_handler(Exception, _unexpected_error)


class JsonByDefault:
    """Bodies sent without a JSON content type (as `curl -d` does) are read as JSON, like
    Ollama does; multipart uploads and other explicit types are left alone."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] in ("POST", "PUT", "PATCH"):
            headers = [(k, v) for k, v in scope["headers"] if k != b"content-type"]
            kind = dict(scope["headers"]).get(b"content-type", b"")
            if not kind or kind.startswith(b"application/x-www-form-urlencoded"):
                scope = {**scope, "headers": [*headers, (b"content-type", b"application/json")]}
        await self.app(scope, receive, send)


class BodySizeLimit:
    """Refuses request bodies over `max_bytes` with 413, before they are buffered."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        declared = _content_length(scope)
        if declared is not None and declared > self.max_bytes:
            await self._refuse(path, send)
            return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise PayloadTooLarge(self._message())
            return message

        await self.app(scope, limited_receive, send)

    def _message(self) -> str:
        return f"the request body is larger than the limit of {self.max_bytes} bytes"

    async def _refuse(self, path: str, send: Send) -> None:
        response = error_response(
            path, 413, self._message(), "invalid_request_error", "request_too_large"
        )
        await send({"type": "http.response.start", "status": 413, "headers": response.raw_headers})
        await send({"type": "http.response.body", "body": response.body})


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None
