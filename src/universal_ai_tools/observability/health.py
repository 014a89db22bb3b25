"""`/health` (the process is alive) and `/ready` (it can serve: database and a backend)."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import text
from starlette.requests import Request
from starlette.responses import JSONResponse

from universal_ai_tools.llm.deps import RegistryDep

router = APIRouter(tags=["operations"])


@router.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/ready")
async def ready(request: Request, registry: RegistryDep) -> JSONResponse:
    checks: dict[str, str] = {}
    try:
        async with request.app.state.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception:  # any failure: report the dependency, never the exception text
        checks["database"] = "unavailable"
    backends = await registry.backend_health()
    for name, healthy in backends.items():
        checks[f"backend:{name}"] = "ok" if healthy else "unavailable"
    is_ready = checks["database"] == "ok" and any(backends.values())
    status = "ready" if is_ready else "not ready"
    return JSONResponse({"status": status, "checks": checks}, status_code=200 if is_ready else 503)
