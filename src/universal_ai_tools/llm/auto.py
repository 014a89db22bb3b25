"""`model: "auto"`: score how demanding a request is and pick the cheapest tier for it.

The score adds up evidence found in the last user turn (and a little from the
conversation around it): proofs and derivations, system design, algorithms and
complexity, advanced mathematics, deep debugging, analysis under constraints and
several chained asks push a request to the strong tier; explanations, comparisons,
writing, code, lists, how-tos and word problems make it medium; greetings, facts,
definitions, small sums and one-line edits stay small. Cue words cover English and
the commonest words of French, Spanish and German. Tuned on bench/data/routing.jsonl
(see bench/routing.py) with general vocabularies, never with the prompts themselves.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from universal_ai_tools.llm.auto_cues import DEPTH, SIMPLER, SMALL_TALK, TASK, TASK_CAP, Cues
from universal_ai_tools.llm.types import ChatMessage
from universal_ai_tools.settings import ModelConfig, Tier

TIERS: tuple[Tier, ...] = ("small", "medium", "strong")
STRONG_AT = 3.0
MEDIUM_AT = 1.0


@dataclass(frozen=True, slots=True)
class Assessment:
    tier: Tier
    score: float
    reasons: tuple[str, ...]

    def explain(self) -> str:
        why = ", ".join(self.reasons) if self.reasons else "simple request"
        return f"auto: {self.tier} tier, score {self.score:.1f}: {why}"


def assess(messages: Sequence[ChatMessage]) -> Assessment:
    """The tier a conversation's latest request needs, with the evidence for it."""
    user_turns = [m.content or "" for m in messages if m.role == "user"]
    text = user_turns[-1] if user_turns else ""
    depth = _evidence(DEPTH, text)
    task = _evidence(TASK, text)
    reasons = [name for name, _ in sorted([*depth, *task], key=lambda item: -item[1])]
    score = sum(p for _, p in depth) + min(TASK_CAP, sum(p for _, p in task))
    words = len(text.split())
    if score > 0 and words > 25:
        score += min(1.5, (words - 25) / 25)
        reasons.append("long")
    if score >= STRONG_AT and SIMPLER.search(text):
        score -= 1.0
        reasons.append("asks for a simple answer")
    if len(user_turns) > 4 and score >= MEDIUM_AT:
        score += 0.5
        reasons.append("deep conversation")
    if not reasons and SMALL_TALK.search(text):
        reasons = ["small talk"]
    tier: Tier = "strong" if score >= STRONG_AT else "medium" if score >= MEDIUM_AT else "small"
    return Assessment(tier, round(score, 2), tuple(reasons[:4]))


def _evidence(cues: Cues, text: str) -> list[tuple[str, float]]:
    found = []
    for name, pattern, points in cues:
        hits = len(pattern.findall(text))
        if hits:
            found.append((name, points * min(hits, 3) ** 0.5))
    return found


def choose(
    assessment: Assessment,
    candidates: Sequence[ModelConfig],
    usable: Callable[[ModelConfig], bool],
) -> ModelConfig:
    """The first usable model of the cheapest tier at or above the one needed; with no
    such tier, of the strongest tier below it."""
    needed = TIERS.index(assessment.tier)
    order = [*TIERS[needed:], *reversed(TIERS[:needed])]
    ranked = [m for tier in order for m in candidates if m.tier == tier]
    if not ranked:
        raise ValueError("no model to choose from")
    return next((m for m in ranked if usable(m)), ranked[0])
