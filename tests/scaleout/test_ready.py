"""`/ready` names a configured Redis that stops answering, and recovers with it."""

from __future__ import annotations

import asyncio

import httpx
from tests.conftest import SettingsFactory
from tests.scaleout.redis_server import RedisServer

from universal_ai_tools.app import create_app


async def test_ready_follows_redis(make_settings: SettingsFactory, redis: RedisServer) -> None:
    app = create_app(make_settings(redis_url=redis.url))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            ready = await http.get("/ready")
            assert ready.status_code == 200 and ready.json()["checks"]["redis"] == "ok"
            with redis.outage():
                down = await http.get("/ready")
                assert down.status_code == 503
                assert down.json()["checks"]["redis"] == "unavailable"
                assert down.json()["checks"]["database"] == "ok"
                assert (await http.get("/health")).status_code == 200
            statuses: list[int] = []

            async def check() -> None:
                statuses.append((await http.get("/ready")).status_code)

            for _ in range(100):  # the link probes Redis again about once a second
                await check()
                if statuses[-1] == 200:
                    break
                await asyncio.sleep(0.1)
            assert statuses[-1] == 200
