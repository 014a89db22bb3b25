"""Backend health: checked live (at most every few seconds) when asked, and actively in
the background, where a check also feeds the circuit breakers of the backend's
deployments: a failed check counts as a failure, and a passing check is the probe that
closes a breaker whose cool-down has passed."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterable

from universal_ai_tools.llm.providers.base import Provider
from universal_ai_tools.llm.resilience import CircuitBreaker

HEALTH_TTL_SECONDS = 5.0


class HealthMonitor:
    def __init__(
        self,
        providers: dict[str, Provider],
        breakers: dict[str, list[CircuitBreaker]],
        interval: float,
        timeout: float,
    ) -> None:
        self.providers = providers
        self.breakers = breakers  # per backend name
        self.interval = interval
        self.timeout = timeout
        self.results: dict[str, tuple[float, bool]] = {}
        self.rounds = 0  # background rounds completed, for tests and metrics
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self.interval > 0 and self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            await self.check(self.providers, feed=True)
            self.rounds += 1

    async def current(self) -> dict[str, bool]:
        """Each backend's health, checked live when the last result is older than a TTL."""
        now = time.monotonic()
        stale = [
            name
            for name in self.providers
            if now - self.results.get(name, (0.0, False))[0] > HEALTH_TTL_SECONDS
        ]
        if stale:
            await self.check(stale, feed=False)
        return {name: self.results[name][1] for name in self.providers}

    async def check(self, names: Iterable[str], *, feed: bool) -> None:
        names = list(names)
        results = await asyncio.gather(*(self._check(self.providers[n]) for n in names))
        now = time.monotonic()
        for name, healthy in zip(names, results, strict=True):
            self.results[name] = (now, healthy)
            if feed:
                for breaker in self.breakers.get(name, ()):
                    _feed(breaker, healthy)

    async def _check(self, provider: Provider) -> bool:
        try:
            return await asyncio.wait_for(provider.health(), self.timeout)
        except TimeoutError:
            return False
        except Exception:  # a broken health check means an unhealthy backend
            return False


def _feed(breaker: CircuitBreaker, healthy: bool) -> None:
    if healthy:
        if breaker.state == "half-open" and not breaker.probing:
            breaker.success()
    else:
        breaker.failure("the health check failed")
