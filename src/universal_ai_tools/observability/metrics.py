"""Prometheus metrics, owned by the app (no global registry).

Label values are always bounded: route templates (never raw paths), configured model and
backend names, fixed outcome words; never a user id or a prompt. With several worker
processes (`uait serve --workers N`), `PROMETHEUS_MULTIPROC_DIR` makes `/metrics`
aggregate every worker: each writes its values into files there, and the worker that
answers a scrape reads them all. A gauge read from a function (`Metrics.set_function`)
has no file to read from, so in that mode each worker writes the function's value into
its file when it changed, checked after every request and scrape it answers.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
TOKEN_BUCKETS = (0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5)


@dataclass
class _FunctionGauge:
    gauge: Gauge
    read: Callable[[], float]
    written: float


@dataclass
class Metrics:
    registry: CollectorRegistry = field(
        default_factory=lambda: CollectorRegistry(auto_describe=True)
    )

    def __post_init__(self) -> None:
        self.multiprocess = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))
        self._sampled: list[_FunctionGauge] = []
        r = self.registry
        self.http_requests = Counter(
            "uait_http_requests", "HTTP requests", ["route", "method", "status"], registry=r
        )
        self.http_latency = Histogram(
            "uait_http_request_duration_seconds",
            "HTTP request latency",
            ["route", "method"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.llm_requests = Counter(
            "uait_llm_requests", "Model calls", ["model", "backend", "outcome"], registry=r
        )
        self.llm_tokens = Counter(
            "uait_llm_tokens", "Tokens in and out", ["model", "backend", "direction"], registry=r
        )
        self.llm_first_token = Histogram(
            "uait_llm_time_to_first_token_seconds",
            "Time to first token",
            ["model", "backend"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.llm_inter_token = Histogram(
            "uait_llm_inter_token_seconds",
            "Mean time between tokens of a stream",
            ["model", "backend"],
            buckets=TOKEN_BUCKETS,
            registry=r,
        )
        self.cache_lookups = Counter(
            "uait_cache_lookups", "Response cache lookups", ["result"], registry=r
        )
        self.backend_up = Gauge(
            "uait_backend_up",
            "1 when the backend answered its last health check",
            ["backend"],
            registry=r,
            multiprocess_mode="max",
        )
        self.breaker_state = Gauge(
            "uait_backend_breaker_state",
            "Circuit breaker: 0 closed, 1 half-open, 2 open",
            ["backend"],
            registry=r,
            multiprocess_mode="max",
        )
        self.ws_connections = Gauge(
            "uait_ws_connections",
            "Open WebSocket connections",
            registry=r,
            multiprocess_mode="livesum",
        )
        self.ws_messages = Counter(
            "uait_ws_messages", "WebSocket frames", ["direction"], registry=r
        )
        self.embedded_queue = Gauge(
            "uait_embedded_queue_depth",
            "Requests waiting for or using the embedded model",
            registry=r,
            multiprocess_mode="livesum",
        )
        self.rate_limited = Counter(
            "uait_rate_limited", "Requests refused by a rate limit or budget", ["kind"], registry=r
        )
        self.auth_failures = Counter(
            "uait_auth_failures", "Refused credentials", ["reason"], registry=r
        )

    def set_function(self, gauge: Gauge, read: Callable[[], float]) -> None:
        """`gauge` shows `read()` (see the module's docstring for several workers)."""
        if self.multiprocess:
            self._sampled.append(_FunctionGauge(gauge, read, read()))
            gauge.set(self._sampled[-1].written)
        else:
            gauge.set_function(read)

    def sample(self) -> None:
        """Several workers: write the function gauges' values that changed."""
        for sampled in self._sampled:
            value = sampled.read()
            if value != sampled.written:
                sampled.written = value
                sampled.gauge.set(value)

    def render(self) -> bytes:
        directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
        if directory:
            self.sample()
            combined = CollectorRegistry()
            multiprocess.MultiProcessCollector(combined, path=directory)  # type: ignore[no-untyped-call]
            return bytes(generate_latest(combined))
        return bytes(generate_latest(self.registry))
