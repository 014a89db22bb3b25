"""Observability cost: gateway_overhead's non-streaming chat load on `uait serve` with
metrics and tracing off, metrics only, and tracing sampled at 10% (and 100%). Each is one
process before the same fake upstream; loads (concurrency 32, then 1) run on each in turn,
two rounds, median kept. Traced servers export OTLP/HTTP to a sink in this process that
counts bytes and spans. Goal (issue 8): < 10% req/s lost at c32 with tracing at 10%.

Run alone: python bench/observability_cost.py
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from aiohttp import web

from common import (
    BENCH_DIR,
    PROJECT_PY,
    child,
    env_float,
    fmt,
    free_port,
    log,
    machine_info,
    main,
    md_table,
    median,
    start_ours,
    wait_ready,
)
from gateway_overhead import CHAT_PATH, REQUEST, body, probe
from loadgen import run_load, tool
from targets import UAIT_TOML

NAME = "observability_cost"
ROUNDS = 2
CONCURRENCIES = (32, 1)
GOAL_LOSS_PCT = 10.0
FIGURES = ("rps", "p50_ms", "p99_ms")
# name -> (description, sampler or None for no exporter, observability enabled)
CONFIGS: dict[str, tuple[str, str | None, bool]] = {
    "off": ("(a) observability off", None, False),
    "metrics": ("(b) metrics on, tracing off", None, True),
    "traced-10%": ("(c) metrics + tracing sampled at 10%", "parentbased_traceidratio", True),
    "traced-100%": ("(d) metrics + tracing at 100%", "always_on", True),
}


class Sink:
    """A tiny OTLP/HTTP receiver on its own thread: 200 to POST /v1/traces, counts per tag."""

    def __init__(self) -> None:
        self.port = free_port()
        self.counts: dict[str, dict[str, int]] = {}
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.runner: web.AppRunner | None = None

    async def _traces(self, request: web.Request) -> web.Response:
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
            ExportTraceServiceRequest,
        )

        raw = await request.read()
        entry = self.counts.setdefault(
            request.headers.get("x-bench-config", "?"), {"posts": 0, "bytes": 0, "spans": 0}
        )
        entry["posts"] += 1
        entry["bytes"] += len(raw)
        if request.headers.get("Content-Encoding") == "gzip":
            raw = gzip.decompress(raw)
        msg = ExportTraceServiceRequest()
        msg.ParseFromString(raw)
        entry["spans"] += sum(len(s.spans) for r in msg.resource_spans for s in r.scope_spans)
        return web.Response(body=b"", content_type="application/x-protobuf")

    async def _start(self) -> None:
        app = web.Application()
        app.router.add_post("/v1/traces", self._traces)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()

    @contextlib.contextmanager
    def running(self) -> Iterator[Sink]:
        self.thread.start()
        try:
            asyncio.run_coroutine_threadsafe(self._start(), self.loop).result(timeout=10)
            yield self
        finally:
            if self.runner is not None:
                done = asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop)
                with contextlib.suppress(Exception):
                    done.result(timeout=10)
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(timeout=10)
            self.loop.close()


def server_env(name: str, sink_port: int) -> dict[str, str]:
    _, sampler, enabled = CONFIGS[name]
    env = {
        "UAIT_OBSERVABILITY__ENABLED": "true" if enabled else "false",
        "UAIT_CACHE__ENABLED": "false",
        "UAIT_LOG_LEVEL": "warning",
        "OTEL_TRACES_EXPORTER": "none",
        "OTEL_TRACES_SAMPLER": "parentbased_always_on",  # the SDK's default
        "OTEL_TRACES_SAMPLER_ARG": "",
    }
    if sampler is not None:
        env["OTEL_TRACES_EXPORTER"] = "otlp"
        env["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"] = f"http://127.0.0.1:{sink_port}/v1/traces"
        env["OTEL_EXPORTER_OTLP_TRACES_HEADERS"] = f"x-bench-config={name.replace('%', 'pc')}"
        env["OTEL_TRACES_SAMPLER"] = sampler
        env["OTEL_TRACES_SAMPLER_ARG"] = "0.1" if sampler.endswith("ratio") else ""
    return env


def measure(
    ready: dict[str, tuple[int, str]], configs: dict[str, Any], seconds: float, warmup: float
) -> None:
    """Every load on each configuration in turn, ROUNDS times; warm-up in the first round."""
    for rnd in range(ROUNDS):
        for conc in CONCURRENCIES:
            for name, (port, token) in ready.items():
                url = f"http://127.0.0.1:{port}{CHAT_PATH}"
                entry = configs[name]
                if rnd == 0 and warmup > 0:
                    warm = run_load(url, body(False), token, conc, warmup)
                    entry["requests_sent"] += warm["requests"]
                figures = run_load(url, body(False), token, conc, seconds)
                entry["requests_sent"] += figures["requests"]
                entry["loads"][f"c{conc}"]["rounds"].append(figures)
                log(
                    f"  round {rnd + 1} c{conc} {name}: {figures['rps']:.0f} req/s, p50 "
                    f"{figures['p50_ms']:.3f} ms, p99 {figures['p99_ms']:.3f} ms"
                )


def finish(configs: dict[str, Any], sink: Sink) -> dict[str, Any]:
    """Medians of the rounds, the sink's counts, and the loss against `off`."""
    for name, entry in configs.items():
        for load in entry["loads"].values():
            rounds = load["rounds"]
            load["median"] = {k: median([r[k] for r in rounds]) for k in FIGURES}
            load["median"]["errors"] = sum(r["errors"] for r in rounds)
        got = sink.counts.get(name.replace("%", "pc"), {"posts": 0, "bytes": 0, "spans": 0})
        entry["sink"] = got
        sent = entry["requests_sent"]
        entry["spans_per_request"] = round(got["spans"] / sent, 4) if sent else None
    base = {c: configs["off"]["loads"][f"c{c}"]["median"]["rps"] for c in CONCURRENCIES}
    loss: dict[str, dict[str, float | None]] = {}
    for name in list(CONFIGS)[1:]:
        loss[name] = {}
        for c in CONCURRENCIES:
            rps = configs[name]["loads"][f"c{c}"]["median"]["rps"]
            loss[name][f"c{c}"] = round((1 - rps / base[c]) * 100, 2) if rps and base[c] else None
    return loss


def run() -> dict[str, Any]:
    seconds = env_float("BENCH_SECONDS", 5.0)
    warmup = env_float("BENCH_WARMUP", 1.0)
    configs: dict[str, Any] = {
        name: {
            "description": desc,
            "requests_sent": 0,
            "loads": {f"c{c}": {"rounds": []} for c in CONCURRENCIES},
        }
        for name, (desc, _, _) in CONFIGS.items()
    }
    sink = Sink()
    with tempfile.TemporaryDirectory(prefix="uait-bench-obs-") as tmp_dir:
        tmp = Path(tmp_dir)
        up = free_port()
        argv = [str(PROJECT_PY), str(BENCH_DIR / "fake_upstream.py"), "--port", str(up)]
        with sink.running(), contextlib.ExitStack() as stack:
            proc = stack.enter_context(child("upstream", argv, tmp / "logs"))
            wait_ready(up, "/v1/models", proc, timeout=30)
            ready: dict[str, tuple[int, str]] = {}
            for name in CONFIGS:
                log(f"{NAME}: starting {name}")
                (tmp / name).mkdir()
                env = server_env(name, sink.port)
                configs[name]["env"] = env
                toml = UAIT_TOML.format(up=up)
                port, token = stack.enter_context(start_ours(tmp / name, toml, env=env))
                probe(port, token)
                configs[name]["requests_sent"] += 2
                ready[name] = (port, token)
            measure(ready, configs, seconds, warmup)
            stack.close()  # stops the servers (each flushes its spans) before the sink
            loss = finish(configs, sink)
    traced = configs["traced-10%"]
    loss_c = loss["traced-10%"]["c32"]
    return {
        "benchmark": NAME,
        "machine": machine_info(),
        "load_generator": tool(),
        "seconds": seconds,
        "warmup_seconds": warmup,
        "rounds": ROUNDS,
        "request": REQUEST,
        "notes": [
            "each configuration is one `uait serve` process (cache off, log level warning, "
            "embedded model off) in front of the same fake upstream",
            "loads interleaved across configurations, two rounds; figures are the median "
            "(with two rounds: their mean)",
            "(b) has no exporter, but the SDK's default sampler (parentbased_always_on) still "
            "records the server span of every request",
            "sink counts include spans flushed at shutdown and the probe and warm-up requests",
        ],
        "configs": configs,
        "loss_vs_off_pct": loss,
        "tracing_proof": {"bytes": traced["sink"]["bytes"], "spans": traced["sink"]["spans"]},
        "goal": f"traced-10% loses < {GOAL_LOSS_PCT:g}% req/s vs off at c32",
        "goal_met": None if loss_c is None else loss_c < GOAL_LOSS_PCT,
    }


def summary(result: dict[str, Any]) -> str:
    configs, loss = result["configs"], result["loss_vs_off_pct"]
    out = [
        f"## Observability cost ({result['load_generator']}, {result['seconds']:g} s per load, "
        f"median of {result['rounds']} rounds, {result['machine']['cpus']} CPUs)",
        "",
    ]
    rows = []
    for c in CONCURRENCIES:
        for name, entry in configs.items():
            m = entry["loads"][f"c{c}"]["median"]
            lost = "ref" if name == "off" else fmt(loss[name][f"c{c}"], 1, "%")
            sink = entry["sink"]
            spans = f"{sink['spans']} / {sink['bytes']:,} B" if sink["posts"] else "-"
            row = [fmt(m["rps"], 0), fmt(m["p50_ms"], 3), fmt(m["p99_ms"], 3), lost]
            rows.append([f"c{c}", entry["description"], *row, str(m["errors"]), spans])
    heads = ["load", "config", "req/s", "p50 ms", "p99 ms", "req/s loss", "errors"]
    out += [md_table([*heads, "spans / bytes at sink"], rows), ""]
    marks = {True: "yes", False: "**no**", None: "n/a"}
    out += [
        f"Goal (not asserted): {result['goal']}: {marks[result['goal_met']]} "
        f"({fmt(loss['traced-10%']['c32'], 1, '%')}).",
        "",
    ]
    return "\n".join(out)


if __name__ == "__main__":
    main(NAME, run, summary)
