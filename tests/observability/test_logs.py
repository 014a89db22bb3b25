"""Structured logs: one JSON object per line, with request and trace ids, secrets redacted."""

from __future__ import annotations

import io
import json
import logging

from opentelemetry.sdk.trace import TracerProvider

from universal_ai_tools.observability.logs import ContextFilter, JsonFormatter, redact
from universal_ai_tools.observability.middleware import REQUEST_ID


def test_json_lines_carry_ids_and_redact_secrets() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(ContextFilter())
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("uait.test.logs")
    logger.handlers[:] = [handler]
    logger.propagate = False
    logger.setLevel(logging.INFO)
    tracer = TracerProvider().get_tracer("test")
    token = REQUEST_ID.set("req-7")
    try:
        with tracer.start_as_current_span("work") as span:
            logger.info(
                "login with %s and Authorization: Bearer %s, password=%s",
                "uait_" + "k" * 43,
                "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.c2lnbmF0dXJlc2ln",
                "hunter2hunter2",
            )
            trace_id = format(span.get_span_context().trace_id, "032x")
    finally:
        REQUEST_ID.reset(token)
    entry = json.loads(stream.getvalue())
    assert entry["request_id"] == "req-7" and entry["trace_id"] == trace_id
    assert entry["level"] == "info" and entry["logger"] == "uait.test.logs"
    for secret in ("k" * 43, "eyJhbGciOiJIUzI1NiJ9", "hunter2hunter2"):
        assert secret not in stream.getvalue()


def test_redact_keeps_ordinary_text() -> None:
    assert redact("model smollm2 answered in 12 ms") == "model smollm2 answered in 12 ms"
    assert redact('{"refresh_token": "abc.def"}') == '{"refresh_token": "[redacted]"}'
