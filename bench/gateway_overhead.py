"""Gateway overhead: the same chat load straight to a fake upstream and through three gateways.

Targets (each one process, all on 127.0.0.1): `direct` (the fake upstream itself), `ours`
(`uait serve`), `ceiling` (a bare Starlette + aiohttp passthrough) and `litellm` (the
LiteLLM proxy from bench/.venv). Loads: non-streaming and streaming (20 chunks), at
concurrency 1 and 32, each BENCH_SECONDS (default 8) after BENCH_WARMUP (default 2) seconds.
All servers are started first and stay up (idle ones cost next to nothing); each load then
runs on every target in turn, so that a busy spell on the machine hits all targets alike.

Run alone: python bench/gateway_overhead.py
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from common import (
    BENCH_DIR,
    PROJECT_PY,
    child,
    ensure_peers,
    env_float,
    fmt,
    free_port,
    http_request,
    log,
    machine_info,
    main,
    md_table,
    wait_ready,
)
from loadgen import run_load, tool
from targets import start_target

NAME = "gateway_overhead"
TARGETS = ("direct", "ours", "ceiling", "litellm")
LOADS = (
    ("non-streaming", False, 1),
    ("non-streaming", False, 32),
    ("streaming", True, 1),
    ("streaming", True, 32),
)
CHAT_PATH = "/v1/chat/completions"
REQUEST: dict[str, Any] = {
    "model": "bench-model",
    "messages": [{"role": "user", "content": "Say hello"}],
    "max_tokens": 16,
}
GOALS = {
    "ours_over_litellm_rps_c32": 20.0,
    "ours_over_ceiling_rps_c32": 1 / 3,
    "ours_added_p50_ms_c1": 1.0,
}


def body(stream: bool) -> bytes:
    return json.dumps({**REQUEST, "stream": True} if stream else REQUEST).encode()


def probe(port: int, token: str) -> None:
    """One request of each kind, checked, before any load."""
    status, raw = http_request(port, "POST", CHAT_PATH, body(False), token=token)
    if status != 200:
        raise RuntimeError(f"non-streaming probe: HTTP {status}: {raw[:300]!r}")
    if not json.loads(raw)["choices"][0]["message"]["content"]:
        raise RuntimeError(f"non-streaming probe: no content: {raw[:300]!r}")
    status, raw = http_request(port, "POST", CHAT_PATH, body(True), token=token)
    events = [x[5:].strip() for x in raw.decode().splitlines() if x.startswith("data:")]
    chunks = [json.loads(x) for x in events if x != "[DONE]"]
    content = [c for c in chunks if c.get("choices") and c["choices"][0]["delta"].get("content")]
    if status != 200 or len(content) != 20 or events[-1:] != ["[DONE]"]:
        raise RuntimeError(
            f"streaming probe: HTTP {status}, {len(content)} content chunks, "
            f"last event {events[-1:]}"
        )


def start_all(
    stack: contextlib.ExitStack, up: int, tmp: Path, peers_ok: bool, targets: dict[str, Any]
) -> dict[str, tuple[int, str]]:
    """Starts and probes every target; a failure marks that target unavailable."""
    ready: dict[str, tuple[int, str]] = {}
    for name in TARGETS:
        log(f"{NAME}: starting {name}")
        if name in ("litellm", "ceiling") and not peers_ok:
            targets[name] = {"available": False, "error": "bench/setup_peers.sh failed"}
            continue
        try:
            port, token = stack.enter_context(start_target(name, up, tmp))
            probe(port, token)
        except Exception as exc:
            log(f"  {name} unavailable: {exc}")
            targets[name] = {"available": False, "error": str(exc)[-3000:]}
            continue
        ready[name] = (port, token)
        targets[name] = {"available": True, "loads": {}}
    return ready


def measure(
    ready: dict[str, tuple[int, str]], targets: dict[str, Any], seconds: float, warmup: float
) -> None:
    """Each load on every target in turn, so that all see the same machine conditions."""
    for kind, stream, conc in LOADS:
        load = f"{kind} c{conc}"
        for name, (port, token) in list(ready.items()):
            url = f"http://127.0.0.1:{port}{CHAT_PATH}"
            try:
                if warmup > 0:
                    run_load(url, body(stream), token, conc, warmup)
                figures = run_load(url, body(stream), token, conc, seconds)
            except Exception as exc:
                log(f"  {name} failed under {load}: {exc}")
                targets[name] = {"available": False, "error": f"{load}: {exc}"[-3000:]}
                del ready[name]
                continue
            targets[name]["loads"][load] = figures
            log(
                f"  {load} {name}: {figures['rps']:.0f} req/s, p50 "
                f"{figures['p50_ms']:.3f} ms, p99 {figures['p99_ms']:.3f} ms"
            )


def ratios(targets: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}

    def fig(target: str, load: str, key: str) -> float | None:
        entry = targets.get(target, {})
        return entry["loads"][load][key] if entry.get("available") else None

    for kind, _, conc in LOADS:
        load = f"{kind} c{conc}"
        ours, lite, ceil = (fig(t, load, "rps") for t in ("ours", "litellm", "ceiling"))
        direct_p50 = fig("direct", load, "p50_ms")
        added = {
            t: p50 - direct_p50
            for t in TARGETS[1:]
            if (p50 := fig(t, load, "p50_ms")) is not None and direct_p50 is not None
        }
        out[load] = {
            "ours_over_litellm_rps": ours / lite if ours and lite else None,
            "ours_over_ceiling_rps": ours / ceil if ours and ceil else None,
            "added_p50_ms": added,
        }
    return out


def goals_met(rat: dict[str, Any]) -> dict[str, bool | None]:
    def check(load: str, key: str, goal: float, above: bool) -> bool | None:
        value = rat[load][key] if key != "added" else rat[load]["added_p50_ms"].get("ours")
        return None if value is None else (value >= goal if above else value < goal)

    met: dict[str, bool | None] = {}
    for kind in ("non-streaming", "streaming"):
        met[f"{kind} c32 ours/litellm >= 20"] = check(
            f"{kind} c32", "ours_over_litellm_rps", GOALS["ours_over_litellm_rps_c32"], True
        )
        met[f"{kind} c32 ours/ceiling >= 1/3"] = check(
            f"{kind} c32", "ours_over_ceiling_rps", GOALS["ours_over_ceiling_rps_c32"], True
        )
        met[f"{kind} c1 added p50 < 1 ms"] = check(
            f"{kind} c1", "added", GOALS["ours_added_p50_ms_c1"], False
        )
    return met


def run() -> dict[str, Any]:
    seconds = env_float("BENCH_SECONDS", 8.0)
    warmup = env_float("BENCH_WARMUP", 2.0)
    peers_ok = ensure_peers()
    tmp = Path(tempfile.mkdtemp(prefix="uait-bench-gw-"))
    targets: dict[str, Any] = {}
    try:
        up = free_port()
        argv = [str(PROJECT_PY), str(BENCH_DIR / "fake_upstream.py"), "--port", str(up)]
        with contextlib.ExitStack() as stack:
            proc = stack.enter_context(child("upstream", argv, tmp / "logs"))
            wait_ready(up, "/v1/models", proc, timeout=30)
            ready = start_all(stack, up, tmp, peers_ok, targets)
            measure(ready, targets, seconds, warmup)
    finally:
        if os.environ.get("BENCH_KEEP_TMP"):
            log(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    rat = ratios(targets)
    return {
        "benchmark": NAME,
        "machine": machine_info(),
        "load_generator": tool(),
        "seconds": seconds,
        "warmup_seconds": warmup,
        "request": REQUEST,
        "stream_chunks": 20,
        "litellm_available": bool(targets.get("litellm", {}).get("available")),
        "notes": [
            "every server is one process; request logs are off for all of them "
            "(ours: UAIT_LOG_LEVEL=warning, LiteLLM: LITELLM_LOG=ERROR, ceiling: no access log)",
            "ours runs with its response cache off (UAIT_CACHE__ENABLED=false)",
            "ours checks an API key minted at start (POST /api-keys), LiteLLM its master key; "
            "direct and ceiling ignore the Authorization header",
        ],
        "targets": targets,
        "ratios": rat,
        "goals": GOALS,
        "goals_met": goals_met(rat),
    }


def summary(result: dict[str, Any]) -> str:
    targets, rat = result["targets"], result["ratios"]
    out = [
        f"## Gateway overhead ({result['load_generator']}, {result['seconds']:g} s per load, "
        f"{result['machine']['cpus']} CPUs)",
        "",
    ]
    for name, entry in targets.items():
        if not entry.get("available"):
            reason = (entry.get("error") or "unknown error").splitlines()[0]
            out += [f"**{name} unavailable**: {reason}", ""]
    rows = []
    for kind, _, conc in LOADS:
        load = f"{kind} c{conc}"
        for name, entry in targets.items():
            if not entry.get("available"):
                continue
            f = entry["loads"][load]
            added = "ref" if name == "direct" else fmt(rat[load]["added_p50_ms"].get(name), 3)
            row = [fmt(f["rps"], 0), fmt(f["p50_ms"], 3), fmt(f["p99_ms"], 3), added]
            rows.append([load, name, *row, str(f["errors"])])
    heads = ["load", "target", "req/s", "p50 ms", "p99 ms", "+p50 ms vs direct", "errors"]
    out += [md_table(heads, rows), ""]
    rows = [
        [
            load,
            fmt(r["ours_over_litellm_rps"], 1, "x"),
            fmt(r["ours_over_ceiling_rps"], 2, "x"),
            fmt(r["added_p50_ms"].get("ours"), 3),
        ]
        for load, r in rat.items()
    ]
    out += [md_table(["load", "ours/LiteLLM req/s", "ours/ceiling req/s", "ours +p50 ms"], rows)]
    out += [
        "",
        "Goals (not asserted): ours >= 20x LiteLLM and >= 1/3 of the ceiling in req/s at "
        "concurrency 32; < 1 ms added p50 at concurrency 1.",
        "",
    ]
    marks = {True: "yes", False: "**no**", None: "n/a"}
    out.append(md_table(["goal", "met"], [[k, marks[v]] for k, v in result["goals_met"].items()]))
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    main(NAME, run, summary)
