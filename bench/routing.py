"""Routing accuracy of `model: "auto"`: the complexity scorer against a labelled set.

bench/data/routing.jsonl holds prompts (`{"prompt", "tier"}`) labelled with the cheapest
tier (small, medium, strong) that should answer them well, in several languages. The
scorer (src/universal_ai_tools/llm/auto.py) assesses each prompt; the result is its
accuracy (goal: at least 85%), the confusion matrix, the share of requests it sends to
each tier next to the labelled share, how often it sends a request to a weaker tier than
needed (the costly mistake) and the scorer's own cost per request.

Run alone: python bench/routing.py
"""

from __future__ import annotations

import json
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import REPO_DIR, machine_info, main

try:
    from universal_ai_tools.llm.auto import TIERS, assess
    from universal_ai_tools.llm.types import ChatMessage
except ImportError:  # run with a Python that lacks the project: use the source tree
    sys.path.insert(0, str(REPO_DIR / "src"))
    from universal_ai_tools.llm.auto import TIERS, assess
    from universal_ai_tools.llm.types import ChatMessage

NAME = "routing"
DATA = REPO_DIR / "bench" / "data" / "routing.jsonl"
GOAL = 0.85


def load() -> list[dict[str, str]]:
    rows = [json.loads(line) for line in DATA.read_text().splitlines() if line.strip()]
    return [{"prompt": str(r["prompt"]), "tier": str(r["tier"])} for r in rows]


def run() -> dict[str, Any]:
    rows = load()
    predicted: list[str] = []
    started = time.perf_counter()
    for row in rows:
        predicted.append(assess([ChatMessage(role="user", content=row["prompt"])]).tier)
    elapsed = time.perf_counter() - started
    labels = [row["tier"] for row in rows]
    correct = sum(p == t for p, t in zip(predicted, labels, strict=True))
    confusion = Counter(zip(labels, predicted, strict=True))
    too_weak = sum(TIERS.index(p) < TIERS.index(t) for p, t in zip(predicted, labels, strict=True))
    shares = Counter(predicted)
    labelled = Counter(labels)
    mistakes = [
        {"prompt": row["prompt"][:120], "tier": row["tier"], "routed": p}
        for row, p in zip(rows, predicted, strict=True)
        if p != row["tier"]
    ]
    return {
        "benchmark": NAME,
        "machine": machine_info(),
        "prompts": len(rows),
        "accuracy": round(correct / len(rows), 4),
        "goal": GOAL,
        "met": correct / len(rows) >= GOAL,
        "routed_share": {tier: round(shares[tier] / len(rows), 4) for tier in TIERS},
        "labelled_share": {tier: round(labelled[tier] / len(rows), 4) for tier in TIERS},
        "recall": {
            tier: round(confusion[(tier, tier)] / labelled[tier], 4) if labelled[tier] else None
            for tier in TIERS
        },
        "too_weak_share": round(too_weak / len(rows), 4),
        "confusion": {t: {p: confusion[(t, p)] for p in TIERS} for t in TIERS},
        "scorer_us_per_request": round(elapsed / len(rows) * 1e6, 1),
        "mistakes": mistakes,
    }


def summary(result: dict[str, Any]) -> str:
    met = "met" if result["met"] else "**not met**"
    lines = [
        '## routing (`model: "auto"`)',
        "",
        f"Accuracy on {result['prompts']} labelled prompts: **{result['accuracy']:.1%}** "
        f"(goal {result['goal']:.0%}: {met}); sent to a weaker tier than labelled: "
        f"{result['too_weak_share']:.1%}; the scorer costs "
        f"{result['scorer_us_per_request']} µs per request.",
        "",
        "| tier | routed share | labelled share | recall |",
        "| --- | --- | --- | --- |",
    ]
    for tier in TIERS:
        recall = result["recall"][tier]
        lines.append(
            f"| {tier} | {result['routed_share'][tier]:.1%} | "
            f"{result['labelled_share'][tier]:.1%} | "
            + (f"{recall:.1%} |" if recall is not None else "n/a |")
        )
    lines += ["", "Confusion (rows: labelled, columns: routed):", ""]
    lines += ["| | " + " | ".join(TIERS) + " |", "| --- |" + " --- |" * len(TIERS)]
    for tier in TIERS:
        row = result["confusion"][tier]
        lines.append(f"| {tier} | " + " | ".join(str(row[p]) for p in TIERS) + " |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main(NAME, run, summary)
