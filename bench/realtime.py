"""Realtime fan-out: one room, 100 WebSocket clients, our server against a bare broadcast peer.

`ours` is `uait serve` (authenticated connections; each message stored and numbered in
SQLite, the messages waiting for the room in one transaction, then fanned out through
per-connection queues); `peer` is bench/ws_peer.py
(`websockets.broadcast` and a counter). The load is one asyncio process of its own (this
file with --load, bench/.venv's python): BENCH_RT_CLIENTS (100) connections join the room,
the first BENCH_RT_SENDERS (10) send: a warm-up (2 messages each), `steady` (BENCH_RT_RATE
messages/s each, default 5, for BENCH_SECONDS, default 8) and `burst` (BENCH_RT_BURST each,
default 100, back to back). Every receiver (the sender too) takes latency from the send
time in the content and checks its `seq`s: in order, no gap, no duplicate, nothing lost.
Ours: BENCH_RT_USERS (20) users made with the owner's API key, each connected several
times; rate limits and queue bound raised, cache off. No compression on either side.

Run alone: python bench/realtime.py
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from common import (
    BENCH_DIR,
    PEERS_BIN,
    child,
    cpu_busy,
    ensure_peers,
    env_float,
    env_int,
    fmt,
    free_port,
    http_request,
    log,
    machine_info,
    main,
    md_table,
    run_async,
    start_ours,
    tail,
    wait_ready,
)

NAME = "realtime"
GOAL_RATIO = 0.7
OURS_ENV = {
    "UAIT_REALTIME__MESSAGES_PER_SECOND": "1000000",
    "UAIT_REALTIME__BURST": "1000000",
    "UAIT_REALTIME__MAX_QUEUE": "100000",
    "UAIT_CACHE__ENABLED": "false",
    "UAIT_LOG_LEVEL": "warning",
}
COLUMNS = {"messages": 0, "deliveries_per_s": 0, "messages_per_s": 0, "p50_ms": 2, "p99_ms": 2}
CPU = ("server_cpu", "load_cpu")
CHECKS = ("lost", "duplicates", "out_of_order_seq", "seq_gaps", "sender_order_violations")


def pct(values: list[float], p: float) -> float:
    return values[min(len(values) - 1, max(0, round(p / 100 * len(values)) - 1))] if values else 0


def cpu_seconds(pid: int | None) -> float | None:
    """User + system CPU seconds of a process (Linux /proc), else None."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


class Client:
    """One connection of the load process and what it received."""

    def __init__(self, ws: Any) -> None:
        self.ws, self.last_seq = ws, 0
        self.errors: set[str] = set()
        self.examples: list[str] = []  # the first out-of-order seqs it saw
        self.seen: set[str] = set()
        self.sender_last: dict[str, int] = {}
        self.count = dict.fromkeys((*CHECKS[1:], "received"), 0)


class Load:
    """The load process: connects, joins, runs the phases, prints one JSON object."""

    def __init__(self, cfg: dict[str, Any]) -> None:
        import orjson

        self.cfg, self.loads, self.dumps = cfg, orjson.loads, orjson.dumps
        self.clients: list[Client] = []
        self.expected: dict[str, int] = {}
        self.delivered: dict[str, int] = {}
        self.last_at: dict[str, float] = {}
        self.latencies: dict[str, list[float]] = {}
        self.done: dict[str, asyncio.Event] = {}

    async def open(self, url: str) -> Client:
        from websockets.asyncio.client import connect

        ws = await connect(url, compression=None, ping_interval=None, open_timeout=30)
        if self.loads(await ws.recv()).get("type") != "ready":
            raise RuntimeError("no `ready` after connecting")
        await ws.send(self.dumps({"type": "join", "room": self.cfg["room"]}).decode())
        for _ in range(10_000):  # skip presence events
            event = self.loads(await ws.recv())
            if event.get("type") in ("joined", "error"):
                if event["type"] == "error":
                    raise RuntimeError(f"join refused: {event}")
                return Client(ws)
        raise RuntimeError("no `joined` after joining")

    async def read(self, c: Client) -> None:
        try:
            async for raw in c.ws:
                now, event = time.perf_counter(), self.loads(raw)
                if event.get("type") != "message":
                    if event.get("type") == "error":
                        c.errors.add(str(event.get("code")))
                    continue
                phase, sender, n, sent = str(event["content"]).split("|")
                who, seq, count = f"{phase}|{sender}", int(event["seq"]), c.count
                key = f"{who}|{n}"
                if key in c.seen:
                    count["duplicates"] += 1
                    continue
                c.seen.add(key)
                if seq <= c.last_seq and len(c.examples) < 3:
                    c.examples.append(f"{phase}: seq {seq} after {c.last_seq}")
                count["out_of_order_seq"] += seq <= c.last_seq
                count["seq_gaps"] += c.last_seq > 0 and seq > c.last_seq + 1
                count["sender_order_violations"] += int(n) <= c.sender_last.get(who, -1)
                c.last_seq, c.sender_last[who] = max(seq, c.last_seq), int(n)
                count["received"] += 1
                self.latencies[phase].append(now - float(sent))
                self.delivered[phase] += 1
                self.last_at[phase] = now
                if self.delivered[phase] == self.expected[phase]:
                    self.done[phase].set()
        except Exception as exc:  # a normal close ends the loop without one
            c.errors.add(f"reader: {exc!r}"[:200])

    async def phase(self, name: str, per_sender: int, rate: float | None) -> dict[str, Any]:
        senders, pid = self.cfg["senders"], self.cfg["server_pid"]
        self.expected[name] = per_sender * senders * len(self.clients)
        self.delivered[name], self.latencies[name], self.done[name] = 0, [], asyncio.Event()
        cpu0, srv0, t0 = time.process_time(), cpu_seconds(pid), time.perf_counter()

        async def send(k: int) -> None:
            for n in range(per_sender):
                if rate:  # senders evenly spread over each 1/rate period
                    at = t0 + (n + k / senders) / rate
                    await asyncio.sleep(max(0.0, at - time.perf_counter()))
                content = f"{name}|{k}|{n}|{time.perf_counter()!r}"
                frame = {"type": "message", "room": self.cfg["room"], "content": content}
                frame["client_id"] = f"{name}-{k}-{n}"
                await self.clients[k].ws.send(self.dumps(frame).decode())

        await asyncio.gather(*(send(k) for k in range(senders)))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.done[name].wait(), self.cfg["drain_timeout"])
        span = max(self.last_at.get(name, time.perf_counter()) - t0, 1e-9)
        cpu1, srv1, lat = time.process_time(), cpu_seconds(pid), sorted(self.latencies[name])
        return {
            "messages": per_sender * senders,
            "expected_deliveries": self.expected[name],
            "deliveries": self.delivered[name],
            "seconds": span,
            "deliveries_per_s": self.delivered[name] / span,
            "messages_per_s": per_sender * senders / span,
            "p50_ms": pct(lat, 50) * 1000,
            "p99_ms": pct(lat, 99) * 1000,
            "load_cpu": (cpu1 - cpu0) / span,
            "server_cpu": (srv1 - srv0) / span if srv0 is not None and srv1 is not None else None,
        }

    async def run(self) -> dict[str, Any]:
        t0, gate = time.perf_counter(), asyncio.Semaphore(10)

        async def opened(url: str) -> Client:
            async with gate:
                return await self.open(url)

        self.clients = list(await asyncio.gather(*(opened(u) for u in self.cfg["urls"])))
        connect_s = time.perf_counter() - t0
        readers = [asyncio.create_task(self.read(c)) for c in self.clients]
        try:
            await self.phase("warmup", 2, None)
            steady, rate = round(self.cfg["rate"] * self.cfg["seconds"]), self.cfg["rate"]
            phases = {
                "steady": await self.phase("steady", steady, rate),
                "burst": await self.phase("burst", self.cfg["burst"], None),
            }
        finally:
            await asyncio.gather(*(c.ws.close() for c in self.clients), return_exceptions=True)
            await asyncio.gather(*readers, return_exceptions=True)
        check = {k: sum(c.count[k] for c in self.clients) for k in CHECKS[1:]}
        expected = sum(self.expected.values())
        check["lost"] = expected - sum(c.count["received"] for c in self.clients)
        errors = sorted({e for c in self.clients for e in c.errors})
        examples = sorted({e for c in self.clients for e in c.examples})[:10]
        return dict(
            connect_s=connect_s,
            phases=phases,
            expected=expected,
            check=check,
            errors=errors,
            out_of_order_examples=examples,
        )


def pid_of_server(port: int) -> int | None:
    """The pid of `uait serve ... --port PORT` (start_ours does not hand out its process)."""
    for entry in Path("/proc").iterdir():
        with contextlib.suppress(OSError):
            args = (entry / "cmdline").read_bytes().split(b"\0") if entry.name.isdigit() else []
            if b"serve" in args and (b"--port", str(port).encode()) in itertools.pairwise(args):
                return int(entry.name)
    return None


def setup_ours(port: int, key: str, users: int, clients: int) -> tuple[list[str], str]:
    """Users (with the owner's API key), one room with all of them, a URL per connection."""

    def post(path: str, body: dict[str, Any], token: str | None) -> dict[str, Any]:
        status, raw = http_request(port, "POST", path, json.dumps(body).encode(), token=token)
        if status not in (200, 201):
            raise RuntimeError(f"POST {path}: HTTP {status}: {raw[:300]!r}")
        answer: dict[str, Any] = json.loads(raw)
        return answer

    ids, tokens = [], []
    for i in range(users):
        person = {"email": f"rt{i}@example.com", "password": secrets.token_urlsafe(18)}
        ids.append(post("/users", {**person, "role": "member"}, key)["id"])
        tokens.append(post("/auth/login", person, None)["access_token"])
    room = post("/rooms", {"name": "bench", "members": ids}, key)["id"]
    # Connection i is user i % users: the first `senders` connections are distinct users.
    return [f"ws://127.0.0.1:{port}/ws?token={tokens[i % users]}" for i in range(clients)], room


def run_load(cfg: dict[str, Any], tmp: Path) -> dict[str, Any]:
    argv = [str(PEERS_BIN / "python"), str(Path(__file__).resolve()), "--load"]
    with open(tmp / "load.err", "wb") as err:  # bounded: 30 s connects, 60 s drains
        stdin = json.dumps(cfg).encode()
        proc = subprocess.run(argv, input=stdin, stdout=subprocess.PIPE, stderr=err, timeout=300)
    if proc.returncode != 0:
        raise RuntimeError(f"load process failed: {tail(tmp / 'load.err')}")
    result: dict[str, Any] = json.loads(proc.stdout.decode().strip().splitlines()[-1])
    return result


def run() -> dict[str, Any]:
    cfg: dict[str, Any] = {
        "clients": env_int("BENCH_RT_CLIENTS", 100),
        "senders": env_int("BENCH_RT_SENDERS", 10),
        "rate": env_float("BENCH_RT_RATE", 5.0),
        "seconds": env_float("BENCH_SECONDS", 8.0),
        "burst": env_int("BENCH_RT_BURST", 100),
        "drain_timeout": 60.0,
    }
    cfg["users"] = max(cfg["senders"], env_int("BENCH_RT_USERS", 20))
    busy = cpu_busy()
    ensure_peers()  # bench/.venv: the peer and the load process (websockets, orjson)
    probe = [str(PEERS_BIN / "python"), "-c", "import websockets, orjson"]
    if subprocess.run(probe, capture_output=True, check=False).returncode != 0:
        raise RuntimeError("bench/.venv lacks websockets or orjson (bench/setup_peers.sh)")
    tmp, targets = Path(tempfile.mkdtemp(prefix="uait-bench-rt-")), dict[str, Any]()
    try:
        with contextlib.ExitStack() as stack:
            log(f"{NAME}: starting ours ({cfg['users']} users) and the peer")
            toml = "[embedded]\nenabled = false\n"
            port, key = stack.enter_context(start_ours(tmp, toml, OURS_ENV, timeout=60))
            urls, room = setup_ours(port, key, cfg["users"], cfg["clients"])
            peer_port = free_port()
            argv = [str(PEERS_BIN / "python"), str(BENCH_DIR / "ws_peer.py")]
            peer = stack.enter_context(
                child("peer", [*argv, "--port", str(peer_port)], tmp / "logs")
            )
            wait_ready(peer_port, "/health", peer, timeout=30)
            peer_urls = [f"ws://127.0.0.1:{peer_port}/ws"] * cfg["clients"]
            plans = {"ours": (urls, room, pid_of_server(port)), "peer": (peer_urls, "r", peer.pid)}
            for name, (target_urls, target_room, pid) in plans.items():  # one after the other
                log(f"{NAME}: load on {name}")
                load = {**cfg, "urls": target_urls, "room": target_room, "server_pid": pid}
                try:
                    targets[name] = run_load(load, tmp)
                except Exception as exc:
                    log(f"  {name} failed: {exc}")
                    targets[name] = {"error": str(exc)[-3000:]}
                    continue
                for phase, f in targets[name]["phases"].items():
                    log(
                        f"  {name} {phase}: {f['deliveries_per_s']:.0f} deliveries/s, p50 "
                        f"{f['p50_ms']:.1f} ms, p99 {f['p99_ms']:.1f} ms"
                    )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return {**finish(cfg, targets), "cpus_busy_before": busy}


def finish(cfg: dict[str, Any], targets: dict[str, Any]) -> dict[str, Any]:
    def rate(name: str, phase: str) -> float | None:
        entry = targets.get(name, {})
        return entry["phases"][phase]["deliveries_per_s"] if "phases" in entry else None

    ratios = {
        p: (o / q if (o := rate("ours", p)) and (q := rate("peer", p)) else None)
        for p in ("steady", "burst")
    }
    burst = ratios["burst"]
    met = {
        f"burst ours/peer deliveries/s >= {GOAL_RATIO}": None
        if burst is None
        else burst >= GOAL_RATIO
    }
    for name, entry in targets.items():
        if "check" in entry:
            met[f"{name}: nothing lost, seq in order"] = not any(entry["check"].values())
    return {
        "benchmark": NAME,
        "machine": machine_info(),
        "config": cfg,
        "notes": "deliveries/s: messages received (all clients) / first send to last delivery; "
        "latency: receive - send time in the load process; server_cpu, load_cpu: share of one "
        "CPU (load_cpu near 100%: bounded by the load process); connection i is user i % users",
        "targets": targets,
        "ratio_ours_over_peer": ratios,
        "goal_ratio": GOAL_RATIO,
        "goals_met": met,
    }


def summary(result: dict[str, Any]) -> str:
    cfg, rows, checks = result["config"], [], []
    busy = result.get("cpus_busy_before") or 0.0
    out = [
        f"## Realtime fan-out ({cfg['clients']} clients in one room, {cfg['senders']} senders, "
        f"{result['machine']['cpus']} CPUs)",
        "",
        f"Steady: {fmt(cfg['rate'], 0)} messages/s per sender for {fmt(cfg['seconds'], 0)} s; "
        f"burst: {cfg['burst']} per sender back to back. Ours: `uait serve` ({cfg['users']} "
        "users, messages stored); peer: bare `websockets.broadcast` (bench/ws_peer.py).",
        "",
    ]
    if busy > 0.2:
        out += [f"**Warning**: the CPUs were {busy:.0%} busy just before this benchmark.", ""]
    for name, entry in result["targets"].items():
        if "error" in entry:
            out += [f"**{name} failed**: {entry['error'].splitlines()[-1]}", ""]
            continue
        for phase, f in entry["phases"].items():
            cpu = [fmt(f[k] * 100 if f[k] is not None else None, 0, "%") for k in CPU]
            rows.append([name, phase, *(fmt(float(f[k]), d) for k, d in COLUMNS.items()), *cpu])
        errors = ", ".join(entry["errors"]) or "none"
        checks.append(
            [name, str(entry["expected"]), *(str(entry["check"][k]) for k in CHECKS), errors]
        )
    head = ["target", "phase", "messages", "deliveries/s", "messages/s", "p50 ms", "p99 ms"]
    out += [md_table([*head, "server CPU", "load CPU"], rows), ""]
    head = ["target", "deliveries expected", "lost", "duplicates", "out-of-order seq"]
    out += [md_table([*head, "seq gaps", "sender order", "errors"], checks), ""]
    for name, entry in result["targets"].items():
        if entry.get("out_of_order_examples"):
            examples = "; ".join(entry["out_of_order_examples"][:5])
            out += [f"**{name}: `seq` out of order**, e.g. {examples}", ""]
    r, marks = result["ratio_ours_over_peer"], {True: "yes", False: "**no**", None: "n/a"}
    out.append(
        f"ours/peer deliveries/s: burst {fmt(r['burst'], 2)}, steady {fmt(r['steady'], 2)}\n"
    )
    out.append(md_table(["goal", "met"], [[g, marks[m]] for g, m in result["goals_met"].items()]))
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    if "--load" in sys.argv:
        print(json.dumps(run_async(Load(json.loads(sys.stdin.read())).run())))
    else:
        main(NAME, run, summary)
