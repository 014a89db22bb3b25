"""`/health` (the process is alive) and `/ready` (it can serve: database and a backend)."""

from __future__ import annotations

from fastapi import APIRouter
from prometheus_client import CONTENT_TYPE_LATEST
from sqlalchemy import text
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from universal_ai_tools.auth.deps import presented_credential
from universal_ai_tools.errors import Forbidden, Unauthorized
from universal_ai_tools.llm.deps import RegistryDep

router = APIRouter(tags=["operations"])


@router.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/ready")
async def ready(request: Request, registry: RegistryDep) -> JSONResponse:
    checks: dict[str, str] = {}
    try:
        # A fresh connection (not the pool's), reading a real table: a database that can
        # no longer be opened or read shows here, not only on the next write.
        async with request.app.state.probe_engine.connect() as connection:
            await connection.execute(text("SELECT count(*) FROM alembic_version"))
        checks["database"] = "ok"
    except Exception:  # any failure: report the dependency, never the exception text
        checks["database"] = "unavailable"
    shared = getattr(request.app.state, "shared", None)
    if shared is not None:
        checks["redis"] = "ok" if await shared.ping() else "unavailable"
    backends = await registry.backend_health()
    metrics = request.app.state.metrics
    for name, healthy in backends.items():
        metrics.backend_up.labels(name).set(1 if healthy else 0)
    for name, healthy in backends.items():
        checks[f"backend:{name}"] = "ok" if healthy else "unavailable"
    is_ready = (
        checks["database"] == "ok" and checks.get("redis", "ok") == "ok" and any(backends.values())
    )
    status = "ready" if is_ready else "not ready"
    return JSONResponse({"status": status, "checks": checks}, status_code=200 if is_ready else 503)


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request) -> Response:
    """Prometheus text format. Needs an admin's credential unless
    `observability.metrics_public` is on (for a scraper on a private network)."""
    settings = request.app.state.settings
    if not settings.observability.metrics_public:
        identity = request.app.state.identity
        credential = presented_credential(request)
        if credential is None:
            raise Unauthorized("missing credentials: send `Authorization: Bearer <token>`")
        principal = await identity.authenticator.authenticate(credential)
        if not principal.at_least("admin"):
            raise Forbidden("metrics are for admins")
    return Response(request.app.state.metrics.render(), media_type=CONTENT_TYPE_LATEST)
