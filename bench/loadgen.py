"""Closed-loop HTTP load for the benchmarks: wrk when it is on PATH, else aiohttp.

Both run in a process of their own (so the load never shares a GIL with a server under
test) and give the same figures: requests, errors, requests/s, p50 and p99 latency (ms).

The asyncio fallback is also this file's command line, which prints one JSON object:
    BENCH_TOKEN=KEY python bench/loadgen.py URL --body FILE --concurrency N --seconds S
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from common import API_KEY, PROJECT_PY, run_async

_LUA = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer %(token)s"
wrk.body = %(body)s

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests": %%d, "duration_us": %%d, "p50_us": %%d, "p99_us": %%d, ' ..
    '"mean_us": %%f, "errors": %%d, "non_2xx": %%d}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    latency.mean, e.connect + e.read + e.write + e.timeout, e.status))
end
"""


def tool() -> str:
    """wrk when on PATH, unless BENCH_LOADGEN=aiohttp asks for the fallback."""
    if os.environ.get("BENCH_LOADGEN") == "aiohttp":
        return "aiohttp"
    return "wrk" if shutil.which("wrk") else "aiohttp"


def _lua_string(text: str) -> str:
    return "[==[" + text + "]==]"


def run_load(url: str, body: bytes, token: str, concurrency: int, seconds: float) -> dict[str, Any]:
    """One closed-loop run of `seconds` with `concurrency` connections, `token` as bearer."""
    if tool() == "wrk":
        return _run_wrk(url, body, token, concurrency, seconds)
    with tempfile.NamedTemporaryFile(suffix=".json") as f:
        f.write(body)
        f.flush()
        argv = [str(PROJECT_PY), str(Path(__file__).resolve()), url, "--body", f.name]
        argv += ["--concurrency", str(concurrency), "--seconds", str(seconds)]
        env = {**os.environ, "BENCH_TOKEN": token}
        proc = subprocess.run(
            argv, capture_output=True, text=True, timeout=seconds + 60, env=env, check=False
        )
    if proc.returncode != 0:
        raise RuntimeError(f"load generator failed: {proc.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def _run_wrk(url: str, body: bytes, token: str, concurrency: int, seconds: float) -> dict[str, Any]:
    with tempfile.NamedTemporaryFile("w", suffix=".lua") as script:
        script.write(_LUA % {"token": token, "body": _lua_string(body.decode())})
        script.flush()
        argv = [
            "wrk",
            "-t1",
            f"-c{concurrency}",
            f"-d{max(1, round(seconds))}s",
            "--timeout",
            "30s",
            "-s",
            script.name,
            url,
        ]
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60)
    line = next((x for x in proc.stdout.splitlines() if x.startswith("WRKJSON ")), None)
    if proc.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed: {proc.stdout[-1000:]} {proc.stderr[-1000:]}")
    raw = json.loads(line.removeprefix("WRKJSON "))
    secs = raw["duration_us"] / 1e6
    ok = raw["requests"] - raw["non_2xx"]
    return {
        "requests": raw["requests"],
        "errors": raw["errors"] + raw["non_2xx"],
        "seconds": secs,
        "rps": ok / secs if secs else 0.0,
        "p50_ms": raw["p50_us"] / 1000,
        "p99_ms": raw["p99_us"] / 1000,
        "mean_ms": raw["mean_us"] / 1000,
    }


def _percentile(sorted_values: list[float], pct: float) -> float:
    if not sorted_values:
        return 0.0
    index = min(len(sorted_values) - 1, max(0, round(pct / 100 * len(sorted_values)) - 1))
    return sorted_values[index]


async def _aiohttp_load(
    url: str, body: bytes, token: str, concurrency: int, seconds: float
) -> dict[str, Any]:
    import aiohttp

    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
    latencies: list[float] = []
    errors = 0
    connector = aiohttp.TCPConnector(limit=concurrency)
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        start = time.perf_counter()
        deadline = start + seconds

        async def worker() -> None:
            nonlocal errors
            while time.perf_counter() < deadline:
                t0 = time.perf_counter()
                try:
                    async with session.post(url, data=body, headers=headers) as resp:
                        await resp.read()
                        ok = resp.status < 300
                except (aiohttp.ClientError, TimeoutError):
                    ok = False
                if ok:
                    latencies.append(time.perf_counter() - t0)
                else:
                    errors += 1

        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - start
    latencies.sort()
    return {
        "requests": len(latencies) + errors,
        "errors": errors,
        "seconds": elapsed,
        "rps": len(latencies) / elapsed,
        "p50_ms": _percentile(latencies, 50) * 1000,
        "p99_ms": _percentile(latencies, 99) * 1000,
        "mean_ms": sum(latencies) / len(latencies) * 1000 if latencies else 0.0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description="closed-loop POST load (aiohttp)")
    parser.add_argument("url")
    parser.add_argument("--body", required=True, help="file with the JSON request body")
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--seconds", type=float, default=8.0)
    args = parser.parse_args()
    body = Path(args.body).read_bytes()
    token = os.environ.get("BENCH_TOKEN", API_KEY)
    result = run_async(_aiohttp_load(args.url, body, token, args.concurrency, args.seconds))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
