"""`make bench` reports what the issues ask for. These tests render the committed results
with each benchmark's own `summary()`; they check the report, never the speed."""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"


@pytest.fixture(autouse=True)
def _bench_on_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(BENCH))


def render(name: str) -> str:
    module = importlib.import_module(name)
    result = json.loads((BENCH / "results" / f"{name}.json").read_text())
    text: str = module.summary(result)
    sys.modules.pop(name, None)
    return text


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("gateway_overhead", ["ours/LiteLLM", "ours/ceiling", "p50", "p99"]),
        ("embedded_speed", ["plain llama-cpp-python", "ours"]),
        ("cache", ["semantic", "false-hit share", "threshold"]),
        ("observability_cost", ["tracing", "loss"]),
        ("routing", ["accuracy"]),
        ("realtime", ["ours/peer"]),
        ("scale", ["2 workers / 1 worker", "200 clients on two instances", "lost"]),
    ],
)
def test_each_benchmark_reports_its_comparison(name: str, expected: list[str]) -> None:
    text = render(name)
    for phrase in expected:
        assert phrase.lower() in text.lower(), (name, phrase)
