"""Dependencies: who is calling, guards by role, and the limits of model routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends
from starlette.requests import Request

from universal_ai_tools.auth.identity import Identity
from universal_ai_tools.auth.principal import Principal, Role
from universal_ai_tools.errors import Forbidden, Unauthorized
from universal_ai_tools.llm.routing import ModelRegistry


def presented_credential(request: Request) -> str | None:
    """`Authorization: Bearer <token or key>`, or `x-api-key: <key>`: the same checks."""
    authorization = request.headers.get("authorization", "")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return request.headers.get("x-api-key") or None


async def get_identity(request: Request) -> Identity:
    identity: Identity = request.app.state.identity
    return identity


IdentityDep = Annotated[Identity, Depends(get_identity)]


async def current_principal(request: Request, identity: IdentityDep) -> Principal:
    credential = presented_credential(request)
    if credential is None:
        raise Unauthorized("missing credentials: send `Authorization: Bearer <token>`")
    principal = await identity.authenticator.authenticate(credential)
    request.state.principal = principal
    return principal


PrincipalDep = Annotated[Principal, Depends(current_principal)]


def role_at_least(role: Role) -> object:
    async def guard(principal: PrincipalDep) -> Principal:
        if not principal.at_least(role):
            raise Forbidden(f"this action needs the {role} role")
        return principal

    return Depends(guard)


MemberDep = Annotated[Principal, role_at_least("member")]
AdminDep = Annotated[Principal, role_at_least("admin")]


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


async def authorize_model_use(
    principal: Principal, identity: Identity, registry: ModelRegistry, model: str
) -> str:
    """Checks a key's model allowlist, then the rate limits and token budgets.

    Returns the canonical model name. Unknown models still answer 404 (from the lookup).
    """
    canonical = registry.lookup(model).name
    if principal.allowed_models is not None:
        allowed = {
            registry.lookup(name).name for name in principal.allowed_models if registry.has(name)
        }
        if canonical not in allowed:
            raise Forbidden(f"this API key may not use the model {model!r}", code="model_forbidden")
    await identity.rate_limiter.check(principal.limit_scope, principal.rpm)
    await identity.rate_limiter.check(f"user:{principal.user_id}", principal.user_rpm)
    await identity.token_budget.ensure_available(principal.limit_scope, principal.daily_tokens)
    await identity.token_budget.ensure_available(
        f"user:{principal.user_id}", principal.user_daily_tokens
    )
    return canonical


async def record_token_use(principal: Principal, identity: Identity, tokens: int) -> None:
    if tokens <= 0:
        return
    if principal.daily_tokens is not None:
        await identity.token_budget.record(principal.limit_scope, tokens)
    if principal.user_daily_tokens is not None:
        await identity.token_budget.record(f"user:{principal.user_id}", tokens)
