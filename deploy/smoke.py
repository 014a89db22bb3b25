"""Smoke test of a running deployment through its edge (nginx).

    python deploy/smoke.py --url http://127.0.0.1:8080 --email admin@localhost --password ...

Needs httpx and websockets (both are dependencies of the project: use its venv, e.g.
`.venv/bin/python deploy/smoke.py ...`). Checks what the nginx config is for:
- /health answers, X-Request-ID comes back unchanged, a W3C traceparent reaches the app
  (the app's X-Trace-ID is the caller's trace id);
- /metrics is not reachable from outside;
- logging in and listing models works;
- streams (OpenAI SSE on /v1/, Ollama NDJSON on /api/) arrive in several pieces, the
  first well before the last (nothing buffers them);
- the WebSocket upgrade on /ws works: ready, ping/pong, a room message echoed back.
Exits non-zero on the first failure.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import secrets
import sys
import time

import httpx
import websockets


def check(condition: bool, what: str) -> None:
    if not condition:
        print(f"FAIL {what}")
        sys.exit(1)
    print(f"ok   {what}")


def stream_pieces(client: httpx.Client, path: str, body: dict[str, object]) -> list[float]:
    """Arrival times (seconds after the request) of each non-empty line of a stream."""
    started = time.perf_counter()
    times: list[float] = []
    with client.stream("POST", path, json=body) as response:
        check(response.status_code == 200, f"POST {path} (stream) answers 200")
        for line in response.iter_lines():
            if line.strip():
                times.append(time.perf_counter() - started)
    return times


def check_streamed(what: str, times: list[float]) -> None:
    """A stream that nothing buffers arrives piece by piece, one token at a time (tens of
    milliseconds apart); a buffered one arrives in a few bursts at the end."""
    gaps = sum(1 for a, b in itertools.pairwise(times) if b - a > 0.01)
    check(
        len(times) >= 4 and gaps >= max(2, (len(times) - 1) // 2),
        f"{what}: {len(times)} pieces from {times[0]:.2f}s to {times[-1]:.2f}s, "
        f"{gaps} of them apart (not buffered)"
        if times
        else f"{what}: empty",
    )


async def websocket_round_trip(ws_url: str, token: str, room: str) -> None:
    async with websockets.connect(f"{ws_url}/ws?token={token}", open_timeout=10) as ws:

        async def next_of(kind: str) -> dict[str, object]:
            while True:
                frame = json.loads(await asyncio.wait_for(ws.recv(), 10))
                if frame.get("type") == kind:
                    return frame

        await next_of("ready")
        check(True, "WebSocket /ws upgraded and authenticated")
        await ws.send(json.dumps({"type": "ping"}))
        await next_of("pong")
        check(True, "WebSocket ping -> pong")
        await ws.send(json.dumps({"type": "join", "room": room}))
        await next_of("joined")
        client_id = secrets.token_hex(4)
        frame = {"type": "message", "room": room, "content": "hello", "client_id": client_id}
        await ws.send(json.dumps(frame))
        echo = await next_of("message")
        check(echo.get("client_id") == client_id and "seq" in echo, "room message echoed, seq")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:8080")
    parser.add_argument("--email", default="admin@localhost")
    parser.add_argument("--password", required=True)
    parser.add_argument("--model", default="smollm2")
    args = parser.parse_args()
    url = args.url.rstrip("/")

    with httpx.Client(base_url=url, timeout=120) as anon:
        request_id = "smoke-" + secrets.token_hex(8)
        trace_id = secrets.token_hex(16)
        traceparent = f"00-{trace_id}-{secrets.token_hex(8)}-01"
        health = anon.get(
            "/health", headers={"X-Request-ID": request_id, "traceparent": traceparent}
        )
        check(health.status_code == 200, "GET /health answers 200")
        check(health.headers.get("x-request-id") == request_id, "X-Request-ID passed through")
        check(health.headers.get("x-trace-id") == trace_id, "traceparent passed through")
        given = anon.get("/health").headers.get("x-request-id")
        check(bool(given), "a request id is given when none is sent")
        check(anon.get("/metrics").status_code == 404, "GET /metrics is closed at the edge")
        login = anon.post("/auth/login", json={"email": args.email, "password": args.password})
        check(login.status_code == 200, "POST /auth/login answers 200")
        token = login.json()["access_token"]

    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=url, timeout=300, headers=headers) as api:
        models = api.get("/v1/models")
        check(models.status_code == 200, "GET /v1/models answers 200")
        ids = [m["id"] for m in models.json()["data"]]
        check(args.model in ids, f"model {args.model} is listed ({', '.join(ids)})")

        messages = [{"role": "user", "content": "Write a long story about a dragon and a knight."}]
        sse = stream_pieces(
            api,
            "/v1/chat/completions",
            {
                "model": args.model,
                "messages": messages,
                "stream": True,
                "max_tokens": 100,
                "temperature": 0.7,
                "seed": secrets.randbelow(10**6),
            },
        )
        check_streamed("SSE stream", sse)
        ndjson = stream_pieces(
            api,
            "/api/chat",
            {
                "model": args.model,
                "messages": messages,
                "stream": True,
                "options": {
                    "num_predict": 100,
                    "temperature": 0.7,
                    "seed": secrets.randbelow(10**6),
                },
            },
        )
        check_streamed("NDJSON stream", ndjson)

        room = api.post("/rooms", json={"name": "smoke-" + secrets.token_hex(3)})
        check(room.status_code == 201, "POST /rooms answers 201")
        ws_url = "ws" + url[len("http") :]
        asyncio.run(websocket_round_trip(ws_url, token, room.json()["id"]))
    print("smoke test passed")


if __name__ == "__main__":
    main()
