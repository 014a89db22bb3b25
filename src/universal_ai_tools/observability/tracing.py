"""OpenTelemetry tracing, configured by the standard `OTEL_*` environment variables.

`OTEL_TRACES_EXPORTER` picks the exporter (`otlp`, `console` or `none`, the default),
`OTEL_EXPORTER_OTLP_ENDPOINT` / `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` where OTLP goes
(HTTP/protobuf), `OTEL_TRACES_SAMPLER` and `OTEL_TRACES_SAMPLER_ARG` the sampling (for
example `parentbased_traceidratio` and `0.1`). Prompts and answers are never put in spans
unless `observability.trace_content` is on.
"""

from __future__ import annotations

import os

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SimpleSpanProcessor,
    SpanExporter,
)
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF

from universal_ai_tools import __version__

SERVICE = "universal-ai-tools"


def exporter_from_environment() -> SpanExporter | None:
    name = os.environ.get("OTEL_TRACES_EXPORTER", "none").split(",")[0].strip().lower()
    if name == "console":
        return ConsoleSpanExporter()
    if name in ("otlp", "otlp_proto_http"):
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        return OTLPSpanExporter()
    return None


def build_tracer_provider(extra: SpanProcessor | None = None) -> TracerProvider:
    """A provider for this app. Sampling comes from OTEL_TRACES_SAMPLER (the SDK reads it)."""
    resource = Resource.create(
        {
            "service.name": os.environ.get("OTEL_SERVICE_NAME", SERVICE),
            "service.version": __version__,
        }
    )
    exporter = exporter_from_environment()
    if exporter is None and extra is None and "OTEL_TRACES_SAMPLER" not in os.environ:
        # Nothing would receive the spans: don't record them (trace ids still flow).
        provider = TracerProvider(resource=resource, sampler=ALWAYS_OFF)
    else:
        provider = TracerProvider(resource=resource)
    if exporter is not None:
        provider.add_span_processor(
            SimpleSpanProcessor(exporter)
            if isinstance(exporter, ConsoleSpanExporter)
            else BatchSpanProcessor(exporter)
        )
    if extra is not None:
        provider.add_span_processor(extra)
    return provider


def tracer_of(provider: TracerProvider) -> trace.Tracer:
    return provider.get_tracer("universal_ai_tools", __version__)
