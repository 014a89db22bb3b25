"""`make bench`: installs the peers, runs every benchmark, writes bench/results/.

Each module in BENCHMARKS exposes run() -> dict (written to bench/results/<name>.json) and
summary(result) -> str (Markdown). SUMMARY.md is made from every benchmark's latest
result, so running a subset (BENCH_ONLY) keeps the others' sections, each dated. A
benchmark that fails is recorded as such and the others still run.

Environment: BENCH_SECONDS (load duration, default 8), BENCH_WARMUP (default 2),
BENCH_THREADS (embedded model threads, default 2), BENCH_REPS (default 3),
BENCH_ONLY (comma-separated names to run a subset), BENCH_LOADGEN=aiohttp (skip wrk),
BENCH_KEEP_TMP=1 (gateway_overhead keeps its servers' logs and configs).
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import time
import traceback
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (
    REPO_DIR,
    RESULTS_DIR,
    cpu_busy,
    ensure_peers,
    log,
    machine_info,
    stop_on_sigterm,
    write_result,
)

# Add later benchmarks (e.g. "cache", "realtime") here, in the order they should run.
BENCHMARKS: list[str] = [
    "gateway_overhead",
    "observability_cost",
    "embedded_speed",
    "cache",
    "realtime",
    "routing",
    "scale",
]


def run_one(name: str) -> None:
    """Runs one benchmark module and writes its result (or the failure)."""
    log(f"=== {name}")
    started = time.perf_counter()
    try:
        module = importlib.import_module(name)
        result: dict[str, Any] = module.run()
        result["elapsed_s"] = round(time.perf_counter() - started, 1)
        write_result(name, result)
    except Exception as exc:
        log(f"{name} failed: {exc!r}")
        write_result(
            name,
            {
                "benchmark": name,
                "machine": machine_info(),
                "error": repr(exc),
                "traceback": traceback.format_exc()[-4000:],
            },
        )


def section(name: str) -> str:
    """The Markdown of a benchmark's latest stored result."""
    path = RESULTS_DIR / f"{name}.json"
    if not path.exists():
        return f"## {name}\n\nnot run yet (`BENCH_ONLY={name} make bench`)\n"
    result: dict[str, Any] = json.loads(path.read_text())
    when = result.get("machine", {}).get("when", "?")
    if "error" in result:
        return f"## {name}\n\n**failed** in the run of {when}: `{result['error']}`\n"
    text: str = importlib.import_module(name).summary(result)
    return f"{text}\n_Run {when}._\n"


def main() -> int:
    stop_on_sigterm()
    only = {x.strip() for x in os.environ.get("BENCH_ONLY", "").split(",") if x.strip()}
    names = [n for n in BENCHMARKS if not only or n in only]
    if not ensure_peers():
        log("setup_peers.sh failed: peers (LiteLLM, ceiling proxy) will be reported missing")
    info = machine_info()
    busy = cpu_busy()
    for name in names:
        run_one(name)
    parts = [
        "# Benchmark summary",
        "",
        f"Latest result of each benchmark on {info['cpus']} CPUs, Python {info['python']}; "
        "every server is one process on 127.0.0.1. Figures are from one run each: compare "
        "the ratios within a run rather than absolute numbers across runs.",
        "",
    ]
    if names and busy is not None and busy > 0.2:
        parts += [
            f"**Warning**: other work was using the CPUs when the run of {info['when']} "
            f"started ({busy * 100:.0f}% busy); its figures may be off.",
            "",
        ]
    parts += [section(name) for name in BENCHMARKS]
    text = "\n".join(parts)
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    (RESULTS_DIR / "SUMMARY.md").write_text(text)
    print(text)
    log(f"wrote {(RESULTS_DIR / 'SUMMARY.md').relative_to(REPO_DIR)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
