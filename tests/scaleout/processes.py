"""Instances of one deployment: `uait serve` processes on the database, Redis and data
directory (the JWT secret and uploaded files live there) of given settings."""

from __future__ import annotations

import os

from tests.conftest import FAST_HASHING, OWNER_EMAIL, OWNER_PASSWORD
from tests.processes import Serve, launch_serve

from universal_ai_tools.settings import Settings


def instance_env(settings: Settings, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("UAIT_")}
    env.update(
        {
            "UAIT_DATA_DIR": str(settings.data_dir),
            "UAIT_DATABASE_URL": settings.resolved_database_url,
            "UAIT_ADMIN_EMAIL": OWNER_EMAIL,
            "UAIT_ADMIN_PASSWORD": OWNER_PASSWORD,
            "UAIT_EMBEDDED__THREADS": "1",
            "UAIT_LOG_LEVEL": "warning",
            **FAST_HASHING,
            **({"UAIT_REDIS_URL": settings.redis_url} if settings.redis_url else {}),
            **extra,
        }
    )
    return env


def start_instance(settings: Settings, name: str, **env: str) -> Serve:
    """One more instance, answering /health when this returns."""
    log = settings.data_dir.parent / f"{name}.log"
    return launch_serve([], log, instance_env(settings, **env))
