"""The deployments of a model and how a request picks one.

Smooth weighted round-robin (nginx's) shares requests by weight, exactly, among the
deployments that are not busier than the least busy one by more than one in-flight
request per unit of weight: a slow or stuck deployment stops getting requests while it
is behind. Deployments whose breaker is open are skipped, and so, while others are
available, are those cooling down after a failure."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from universal_ai_tools.llm.providers.base import Provider
from universal_ai_tools.llm.resilience import CircuitBreaker, FairGate, current_tenant


@dataclass(eq=False)
class Deployment:
    """One (backend, target) pair serving a model; its breaker is shared by every model
    that names the same pair."""

    backend: str
    target: str
    weight: int
    provider: Provider
    breaker: CircuitBreaker
    gate: FairGate
    first_token_timeout: float | None
    in_flight: int = 0
    cooldown_until: float = 0.0
    served: int = 0
    _current: int = field(default=0, repr=False)  # smooth weighted round-robin state

    @property
    def remote(self) -> bool:
        return self.provider.kind != "embedded"

    def cool_down(self, seconds: float) -> None:
        self.cooldown_until = max(self.cooldown_until, time.monotonic() + seconds)

    async def acquire(self) -> Lease:
        """Wait for room at the backend (fair queue), then count the request in flight."""
        await self.gate.acquire(current_tenant.get())
        self.in_flight += 1
        return Lease(self, self.breaker.begin())


@dataclass(eq=False, slots=True)
class Lease:
    """A request in flight at a deployment; `end` must be called exactly once."""

    deployment: Deployment
    probe: bool
    ended: bool = False

    def end(self, outcome: BaseException | None, *, counts: bool) -> None:
        """`outcome` None: success. `counts`: whether the failure says the deployment is
        broken (a client error or a cancellation says nothing about it)."""
        if self.ended:
            return
        self.ended = True
        deployment = self.deployment
        deployment.in_flight -= 1
        deployment.gate.release()
        if outcome is None:
            deployment.served += 1
            deployment.breaker.success()
        elif counts:
            message = getattr(outcome, "message", None) or type(outcome).__name__
            deployment.breaker.failure(str(message))
        elif self.probe:
            deployment.breaker.abandon()


def pick(deployments: Sequence[Deployment], excluded: set[Deployment]) -> Deployment | None:
    """The deployment for the next attempt, or None when none may be tried now."""
    candidates = [d for d in deployments if d not in excluded and d.breaker.allows()]
    if not candidates:
        return None
    if len(candidates) == 1:
        return candidates[0]
    now = time.monotonic()
    candidates = [d for d in candidates if d.cooldown_until <= now] or candidates
    least = min(d.in_flight / d.weight for d in candidates)
    best = [d for d in candidates if d.in_flight / d.weight <= least + 1]
    if len(best) == 1:
        return best[0]
    total = 0
    chosen = best[0]
    for deployment in best:
        deployment._current += deployment.weight
        total += deployment.weight
        if deployment._current > chosen._current:
            chosen = deployment
    chosen._current -= total
    return chosen
