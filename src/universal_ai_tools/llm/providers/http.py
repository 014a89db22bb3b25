"""Shared HTTP plumbing for remote backends (aiohttp: measured ~10x cheaper than httpx here)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import orjson
from opentelemetry import propagate

from universal_ai_tools.errors import BackendClientError, BackendError, BackendUnavailable
from universal_ai_tools.llm.providers.base import (
    BackendServerError,
    BackendTimeout,
    BackendUnreachable,
    RateLimited,
)
from universal_ai_tools.settings import BackendConfig


class HttpBackend:
    """Owns one keep-alive connection pool to a backend and maps its failures to our errors."""

    def __init__(self, config: BackendConfig, headers: dict[str, str] | None = None) -> None:
        self.name = config.name
        self.config = config
        self._headers = headers or {}
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        if self._session is None:
            timeout = aiohttp.ClientTimeout(
                total=None, sock_connect=self.config.connect_timeout, sock_read=self.config.timeout
            )
            connector = aiohttp.TCPConnector(limit=256, keepalive_timeout=30)
            self._session = aiohttp.ClientSession(
                base_url=None,
                timeout=timeout,
                connector=connector,
                headers=self._headers,
                json_serialize=lambda obj: orjson.dumps(obj).decode(),
            )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise BackendUnavailable(f"backend {self.name!r} is not started")
        return self._session

    @asynccontextmanager
    async def request(
        self, method: str, path: str, body: dict[str, Any] | None = None
    ) -> AsyncIterator[aiohttp.ClientResponse]:
        """Send a request; yield the response only when its status is 2xx."""
        url = self.config.url + path
        data = orjson.dumps(body) if body is not None else None
        headers = {"Content-Type": "application/json"} if data is not None else {}
        propagate.inject(headers)  # W3C traceparent: the backend's spans join our trace
        try:
            async with self.session.request(method, url, data=data, headers=headers) as response:
                if response.status >= 400:
                    await self._raise_for_status(response)
                yield response
        except aiohttp.ClientConnectorError as exc:
            raise BackendUnreachable(f"backend {self.name!r} is unreachable") from exc
        except TimeoutError as exc:
            raise BackendTimeout(f"backend {self.name!r} timed out") from exc
        except aiohttp.ServerDisconnectedError as exc:
            raise BackendUnreachable(f"backend {self.name!r} closed the connection") from exc
        except aiohttp.ClientPayloadError as exc:
            raise BackendError(f"backend {self.name!r} cut the response short") from exc
        except aiohttp.ClientError as exc:
            raise BackendError(f"backend {self.name!r} failed: {type(exc).__name__}") from exc

    async def get_json(self, path: str) -> Any:
        async with self.request("GET", path) as response:
            return await self._json(response)

    async def post_json(self, path: str, body: dict[str, Any]) -> Any:
        async with self.request("POST", path, body) as response:
            return await self._json(response)

    async def _json(self, response: aiohttp.ClientResponse) -> Any:
        raw = await response.read()
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise BackendError(f"backend {self.name!r} answered with invalid JSON") from exc

    async def _raise_for_status(self, response: aiohttp.ClientResponse) -> None:
        status = response.status
        message = _error_message(await response.read()) or response.reason or "error"
        text = f"backend {self.name!r} answered {status}: {message}"
        if status == 429:
            raise RateLimited(text, retry_after=_retry_after(response.headers.get("Retry-After")))
        if status == 503:
            raise BackendUnavailable(text)
        if status >= 500:
            raise BackendServerError(text, status=status)
        raise BackendClientError(text, status_code=404 if status == 404 else 400)


def _retry_after(value: str | None) -> float | None:
    """Retry-After in seconds (an HTTP date counts as absent: backends send seconds)."""
    if not value:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    return max(0.0, seconds)


def _error_message(raw: bytes) -> str:
    """Pull a human message out of an OpenAI- or Ollama-shaped error body."""
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return raw[:300].decode("utf-8", "replace").strip()
    if isinstance(body, dict):
        error = body.get("error", body.get("message"))
        if isinstance(error, dict):
            return str(error.get("message", ""))[:300]
        if error is not None:
            return str(error)[:300]
    return ""


def parse_json_line(line: bytes) -> Any:
    try:
        return orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        raise BackendError("backend sent a malformed stream line") from exc
