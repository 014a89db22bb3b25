"""The response cache: hit latency through the server, embedding speed, threshold choice.

1. `uait serve` (embedded model, cache on, default threshold): a dozen misses (new
   questions, `temperature` 0, `max_tokens` 32), then BENCH_CACHE_HITS (300) exact hits
   alternating with as many semantic hits (labelled paraphrases of the cached questions),
   timed by one keep-alive client here; X-UAIT-Cache and the returned answer are checked.
2. One short sentence embedded by MiniLMEmbedder here (median of 200) and, only if
   bench/.venv already has it, by sentence-transformers in a bench/.venv subprocess.
   BENCH_ST=1 installs torch==2.13.0 and sentence-transformers there first (large).
3. bench/data/paraphrases.jsonl: per threshold, the hit rate on `same` pairs and the
   false-hit share (false hits / hits) by kind; recommended: the lowest threshold whose
   false-hit share is under 1%.

Run alone: python bench/cache.py
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from common import (
    BENCH_DIR,
    PEERS_BIN,
    cpu_busy,
    env_int,
    fmt,
    log,
    machine_info,
    main,
    md_table,
    start_ours,
)
from universal_ai_tools.cache.guard import compatible

NAME = "cache"
THRESHOLDS = [round(0.70 + 0.02 * i, 2) for i in range(15)]  # 0.70 ... 0.98
MAX_FALSE_SHARE = 0.01
GOALS = {"exact_p50_ms": 3.0, "semantic_p50_ms": 10.0, "speedup_over_miss": 50.0}
SENTENCE = "What is the capital of France?"
ST_WORKER = """
import json, statistics, sys, time
import sentence_transformers
model = sentence_transformers.SentenceTransformer(sys.argv[1], device="cpu")
text, runs = sys.argv[2], int(sys.argv[3])
for _ in range(5):
    model.encode([text])
times = []
for _ in range(runs):
    t0 = time.perf_counter()
    vector = model.encode([text])[0]
    times.append(time.perf_counter() - t0)
print(json.dumps({"median_ms": statistics.median(times) * 1000, "vector": vector.tolist(),
                  "version": sentence_transformers.__version__}))
"""


def pct(values: list[float], p: float) -> float:
    """Nearest-rank percentile, 0 for no values."""
    v = sorted(values)
    return v[min(len(v) - 1, max(0, round(p / 100 * len(v)) - 1))] if v else 0.0


def threshold_table(pairs: list[dict[str, Any]], sims: list[float]) -> dict[str, Any]:
    same_total = sum(p["same"] for p in pairs)
    rows, recommended = [], None
    for t in THRESHOLDS:
        hits = [
            p
            for p, s in zip(pairs, sims, strict=True)
            if s >= t and compatible(p["a"], p["b"])  # the server's lexical guard too
        ]
        false = [p for p in hits if not p["same"]]
        kinds: dict[str, int] = {}
        for p in false:
            kinds[p["kind"]] = kinds.get(p["kind"], 0) + 1
        share = len(false) / len(hits) if hits else 0.0
        rate = (len(hits) - len(false)) / same_total if same_total else None
        row = {"threshold": t, "hit_rate": rate, "hits": len(hits), "false_hits": len(false)}
        rows.append({**row, "false_hit_share": share, "false_by_kind": kinds})
        if recommended is None and share < MAX_FALSE_SHARE:
            recommended = t
    top: dict[str, float] = {}  # the most similar pair of each kind that is not the same
    for p, sim in zip(pairs, sims, strict=True):
        if not p["same"]:
            top[p["kind"]] = round(max(sim, top.get(p["kind"], -1.0)), 4)
    head = {"pairs": len(pairs), "same_pairs": same_total, "recommended": recommended}
    return {**head, "rows": rows, "max_false_similarity_by_kind": top}


def embed_speed(embedder: Any) -> dict[str, Any]:
    for _ in range(5):
        embedder.embed([SENTENCE])
    times = []
    for _ in range(200):
        t0 = time.perf_counter()
        embedder.embed([SENTENCE])
        times.append(time.perf_counter() - t0)
    return {"median_ms": statistics.median(times) * 1000, "p99_ms": pct(times, 99) * 1000}


def st_speed(model_dir: Path, ours: np.ndarray[Any, Any]) -> dict[str, Any]:
    """sentence-transformers in bench/.venv: used if present, installed only on BENCH_ST=1."""
    py = str(PEERS_BIN / "python")
    probe = [py, "-c", "import sentence_transformers"]
    present = Path(py).exists() and subprocess.run(probe, capture_output=True).returncode == 0
    if not present and os.environ.get("BENCH_ST") == "1" and Path(py).exists():
        log(f"{NAME}: BENCH_ST=1: installing torch==2.13.0 and sentence-transformers")
        install = [py, "-m", "pip", "install", "--quiet", "torch==2.13.0", "sentence-transformers"]
        present = subprocess.run(install, check=False, timeout=1800).returncode == 0
    if not present:
        return {"available": False, "note": "not in bench/.venv (BENCH_ST=1 installs it)"}
    argv = [py, "-c", ST_WORKER, str(model_dir), SENTENCE, "200"]
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}  # the model is a local folder
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=600, env=env, check=False)
    if proc.returncode != 0:
        return {"available": False, "note": f"failed: {proc.stderr[-1000:]}"}
    out: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    diff = float(np.abs(np.asarray(out.pop("vector"), dtype=np.float32) - ours).max())
    return {"available": True, **out, "max_abs_diff_vs_ours": diff}


def pick_questions(
    pairs: list[dict[str, Any]], vectors: dict[str, Any], threshold: float, n: int = 12
) -> list[tuple[str, str | None]]:
    """`n` questions of distinct topics (each well below the threshold to the others): first
    those with a paraphrase well above it (for semantic hits), then others (misses only)."""
    same = [p for p in pairs if p["same"]]
    same.sort(key=lambda p: -float(vectors[p["a"]] @ vectors[p["b"]]))
    chosen: list[tuple[str, str | None]] = []

    def apart(texts: list[str]) -> bool:
        taken = [x for pair in chosen for x in pair if x is not None]
        return all(float(vectors[x] @ vectors[y]) < threshold - 0.1 for x in texts for y in taken)

    for p in same:
        close = float(vectors[p["a"]] @ vectors[p["b"]]) >= threshold + 0.02
        if len(chosen) < n and close and apart([p["a"], p["b"]]):
            chosen.append((p["a"], p["b"]))
    for p in same:
        if len(chosen) < n and apart([p["a"]]):
            chosen.append((p["a"], None))
    return chosen


class Client:
    """One keep-alive connection; `ask` returns (seconds, X-UAIT-Cache, answer)."""

    def __init__(self, port: int, token: str) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        self.headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}

    def ask(self, question: str, extra: dict[str, str] | None = None) -> tuple[float, str, str]:
        messages = [{"role": "user", "content": question}]
        body = {"model": "smollm2", "temperature": 0, "max_tokens": 32, "messages": messages}
        raw = json.dumps(body).encode()
        for attempt in range(2):  # once more if the server closed an idle connection
            try:
                t0 = time.perf_counter()
                self.conn.request("POST", "/v1/chat/completions", raw, self.headers | (extra or {}))
                resp = self.conn.getresponse()
                data = resp.read()
                elapsed = time.perf_counter() - t0
                break
            except (http.client.HTTPException, ConnectionError):
                self.conn.close()
                if attempt:
                    raise
        if resp.status != 200:
            raise RuntimeError(f"HTTP {resp.status}: {data[:300]!r}")
        answer = json.loads(data)["choices"][0]["message"]["content"]
        return elapsed, resp.getheader("x-uait-cache", ""), answer


def through_server(
    questions: list[tuple[str, str | None]], threshold: float, tmp: Path
) -> dict[str, Any]:
    hits = env_int("BENCH_CACHE_HITS", 300)
    env = {
        "UAIT_CACHE__ENABLED": "true",
        "UAIT_CACHE__SIMILARITY_THRESHOLD": str(threshold),
        "UAIT_EMBEDDED__THREADS": str(env_int("BENCH_THREADS", 2)),
    }
    toml = "# the built-in default: the embedded model smollm2 only\n"
    times: dict[str, list[float]] = {"miss": [], "hit": [], "semantic-hit": []}
    wrong: list[str] = []
    with start_ours(tmp, toml, env) as (port, key):
        client = Client(port, key)
        client.ask("Say hello.", {"Cache-Control": "no-store"})  # loads the model; not stored
        client.ask("Name a primary colour.")  # a first miss, embedder included
        answers = {}
        for a, _ in questions:
            elapsed, status, answers[a] = client.ask(a)
            times["miss"].append(elapsed)
            if status != "miss":
                wrong.append(f"{a!r}: {status}, expected miss")
        paired = [(a, b) for a, b in questions if b is not None]
        for i in range(hits + 10):  # the first 10 of each are a warm-up
            a, b = paired[i % len(paired)] if paired else (questions[i % len(questions)][0], None)
            for question, want in ((a, "hit"), (b, "semantic-hit")):
                if question is None:
                    continue
                elapsed, status, answer = client.ask(question)
                if status != want or answer != answers[a]:
                    wrong.append(f"{question!r}: {status}, expected {want} of {a!r}")
                if i >= 10:
                    times[want].append(elapsed)
        client.conn.close()
    out: dict[str, Any] = {"requests": {k: len(v) for k, v in times.items()}, "wrong": wrong[:20]}
    out["miss_ms"] = [round(t * 1000, 1) for t in times["miss"]]
    for kind, values in times.items():
        out[kind] = {f"p{p}_ms": pct(values, p) * 1000 for p in (50, 99)}
        hit = out[kind]["p50_ms"]
        out[kind]["miss_over_this_p50"] = out["miss"]["p50_ms"] / hit if values else None
    return out


def run() -> dict[str, Any]:
    from universal_ai_tools.embeddings.minilm import MiniLMEmbedder, default_model_dir
    from universal_ai_tools.settings import CacheSettings

    busy = cpu_busy()
    lines = (BENCH_DIR / "data" / "paraphrases.jsonl").read_text().splitlines()
    pairs = [json.loads(line) for line in lines if line.strip()]
    texts = sorted({p[k] for p in pairs for k in ("a", "b")})
    log(f"{NAME}: embedding {len(texts)} questions with MiniLMEmbedder")
    embedder = MiniLMEmbedder()
    vectors = dict(zip(texts, embedder.embed(texts), strict=True))
    sims = [float(vectors[p["a"]] @ vectors[p["b"]]) for p in pairs]
    table = threshold_table(pairs, sims)
    log(f"{NAME}: recommended threshold {table['recommended']}; timing embeddings")
    ours = embed_speed(embedder)
    st = st_speed(default_model_dir(), embedder.embed([SENTENCE])[0])
    threshold = CacheSettings().similarity_threshold
    questions = pick_questions(pairs, vectors, threshold)
    log(f"{NAME}: {len(questions)} questions through the server (threshold {threshold})")
    tmp = Path(tempfile.mkdtemp(prefix="uait-bench-cache-"))
    try:
        server = through_server(questions, threshold, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    x, n = GOALS["speedup_over_miss"], server["requests"]

    def goal(kind: str, key: str, ok: Any) -> bool | None:
        return ok(server[kind][key] or 0) if n[kind] and n["miss"] else None

    goals = {
        "exact hit p50 < 3 ms": goal("hit", "p50_ms", lambda v: v < GOALS["exact_p50_ms"]),
        "semantic hit p50 < 10 ms": goal(
            "semantic-hit", "p50_ms", lambda v: v < GOALS["semantic_p50_ms"]
        ),
        "exact hit p50 >= 50x faster than a miss": goal(
            "hit", "miss_over_this_p50", lambda v: v >= x
        ),
        "semantic hit p50 >= 50x faster than a miss": goal(
            "semantic-hit", "miss_over_this_p50", lambda v: v >= x
        ),
    }
    return {
        "benchmark": NAME,
        "machine": machine_info(),
        "cpus_busy_before": busy,
        "server_threshold": threshold,
        "questions": questions,
        "server": server,
        "embed_one": {"minilm_numpy": ours, "sentence_transformers": st, "text": SENTENCE},
        "thresholds": table,
        "goals": GOALS,
        "goals_met": goals,
    }


def summary(result: dict[str, Any]) -> str:
    server, emb, table = result["server"], result["embed_one"], result["thresholds"]
    marks, busy = {True: "yes", False: "**no**", None: "n/a"}, result["cpus_busy_before"]
    kinds = (("hit", "exact hit"), ("semantic-hit", "semantic hit"), ("miss", "miss"))
    rows = []
    for k, label in kinds:
        figures = [fmt(server[k][f], 2) for f in ("p50_ms", "p99_ms")]
        speedup = fmt(server[k]["miss_over_this_p50"], 0, "x")
        rows.append([label, str(server["requests"][k]), *figures, speedup])
    out = [f"## Response cache ({result['machine']['cpus']} CPUs)", ""]
    if busy is not None and busy > 0.2:
        out += [f"**Warning**: the CPUs were {busy:.0%} busy just before this benchmark.", ""]
    out += [
        f"Through `uait serve` (embedded smollm2, `temperature` 0, `max_tokens` 32, threshold "
        f"{result['server_threshold']}), one keep-alive HTTP client, end to end:",
        "",
        md_table(["request", "n", "p50 ms", "p99 ms", "miss p50 / p50"], rows),
        "",
    ]
    if server["wrong"]:
        out += [f"**Unexpected cache answers**: {'; '.join(server['wrong'][:5])}", ""]
    out += [md_table(["goal", "met"], [[g, marks[m]] for g, m in result["goals_met"].items()]), ""]
    st, ours = emb["sentence_transformers"], emb["minilm_numpy"]
    rows = [["MiniLMEmbedder (NumPy, in-process)", fmt(ours["median_ms"], 2), ""]]
    if st["available"]:
        diff = f"max abs diff vs ours {st['max_abs_diff_vs_ours']:.1e}"
        rows.append([f"sentence-transformers {st['version']}", fmt(st["median_ms"], 2), diff])
    else:
        rows.append(["sentence-transformers (bench/.venv)", "n/a", st["note"].splitlines()[0]])
    out += [f"Embedding one short sentence ({emb['text']!r}), median of 200:", ""]
    out += [md_table(["embedder", "median ms", "note"], rows), ""]
    rows = []
    for r in table["rows"]:
        t = r["threshold"]
        tags = " (default)" * (t == result["server_threshold"])
        tags += " (recommended)" * (t == table["recommended"])
        by_kind = ", ".join(f"{k} {v}" for k, v in sorted(r["false_by_kind"].items())) or "-"
        shares = [fmt(r[k] * 100, 1, "%") for k in ("hit_rate", "false_hit_share")]
        rows.append([f"{t:.2f}{tags}", shares[0], str(r["hits"]), str(r["false_hits"]), shares[1]])
        rows[-1].append(by_kind)
    head = ["threshold", "hit rate (same pairs)", "hits", "false hits", "false-hit share"]
    out += [
        f"Thresholds on bench/data/paraphrases.jsonl ({table['pairs']} pairs, "
        f"{table['same_pairs']} of them the same question; false-hit share = false hits / hits):",
        "",
        md_table([*head, "false hits by kind"], rows),
        "",
    ]
    if table["recommended"] is None:
        top = ", ".join(f"{k} {v:.3f}" for k, v in table["max_false_similarity_by_kind"].items())
        out.append(
            f"**No threshold from {THRESHOLDS[0]:.2f} to {THRESHOLDS[-1]:.2f} keeps the "
            f"false-hit share under {MAX_FALSE_SHARE:.0%}**: no recommendation. Highest "
            f"similarity of a pair that is not the same question, by kind: {top}."
        )
    else:
        out.append(
            f"**Recommended `cache.similarity_threshold`: {table['recommended']:.2f}** "
            f"(the lowest with a false-hit share under {MAX_FALSE_SHARE:.0%}; default now "
            f"{result['server_threshold']})."
        )
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    main(NAME, run, summary)
