"""The temporary single-key gate: when `UAIT_API_KEY` is set, every API call must carry it.

Accepted as `Authorization: Bearer <key>` or `x-api-key: <key>`, compared in constant
time. The identity feature replaces this with users, keys and devices.
"""

from __future__ import annotations

import hmac

from starlette.requests import Request

from universal_ai_tools.errors import Unauthorized


def presented_credential(request: Request) -> str | None:
    authorization = request.headers.get("authorization", "")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return request.headers.get("x-api-key") or None


async def require_api_key(request: Request) -> None:
    expected: str | None = request.app.state.settings.api_key
    if expected is None:
        return
    presented = presented_credential(request)
    if presented is None:
        raise Unauthorized("missing credentials: send `Authorization: Bearer <key>`")
    if not hmac.compare_digest(presented.encode(), expected.encode()):
        raise Unauthorized("invalid API key")
