"""Facts worth remembering in what a user wrote, phrased about "The user".

Two parts: `explicit_requests` finds "remember that …" style requests (always honoured),
and a `FactExtractor` strategy finds self-statements ("my name is …"). The default
`RuleBasedExtractor` is deliberately conservative: questions, hypotheticals, quoted text
and code never yield a memory. A model-based extractor can replace it when a capable
model is configured; it only has to offer `extract(text)` (synchronous or async).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable
from typing import Protocol

MAX_FACT_CHARS = 300
MAX_OBJECT_WORDS = 12
MAX_SENTENCES = 30
MAX_SENTENCE_CHARS = 400  # longer sentences are not short facts (and regexes stay linear)
MAX_TEXT_CHARS = 20_000


def word_set(words: str) -> frozenset[str]:
    return frozenset(words.split())


_I = re.IGNORECASE
_SENTENCES = re.compile(r"(?<=[.!?])\s+|\n+")
_CLAUSES = re.compile(r"(?:\s*[,;]\s*|\s+(?:and|but|so|also)\s+)(?=(?:i|i'm|my)\b)", _I)
_FILLER = re.compile(
    r"^(?:(?:oh|well|so|and|also|actually|btw|by the way|hi|hello|hey|ok|okay|anyway|"
    r"fyi|just so you know|for the record)\b[\s,:-]*)+",
    _I,
)
_QUESTION_START = re.compile(
    r"^(?:what|who|whom|whose|where|when|why|how|which|do|does|did|is|are|am|was|were|"
    r"can|could|would|should|will|shall|may|might|have|has|had|isn't|aren't|don't you)\b",
    _I,
)
_HYPOTHETICAL_START = re.compile(
    r"^(?:if|imagine|pretend|suppose|assuming|assume|let's|lets|say|when|unless|whether)\b",
    _I,
)
_EXPLICIT = re.compile(
    r"^(?:(?:please|also|and|i want you to|i'd like you to|could you|can you|would you)\s+)*"
    r"(?:remember|don't forget|do not forget|never forget|keep in mind)"
    r"(?:\s*:\s*|\s+that\s+|\s+)(?P<fact>.+?)(?:,?\s+please)?[.!\s]*$",
    _I,
)
_NOT_A_FACT_START = word_set("to me this it when what how why where who whom whether if about")
# Objects that point at the conversation, not at a lasting fact about the user.
_VAGUE_OBJECT_START = word_set(
    "it this that these those you your them him her us how what when where why whether if "
    "doing being bit little lot tad few couple moment not no none nothing"
)
_CUT_OBJECT = re.compile(r"\s+(?:because|since|although|though|but|as long as)\s+.*$", _I)

_MODALS = word_set("can could will would should must may might shall")
_ADVERBS = word_set(
    "also really just often usually always never sometimes still absolutely mostly only "
    "truly totally"
)
_IRREGULAR = {"am": "is", "was": "was", "have": "has", "do": "does", "'m": "is"}
_CONTRACTIONS = {
    "i'm": "the user is",
    "i've": "the user has",
    "i'd": "the user would",
    "i'll": "the user will",
    "i don't": "the user doesn't",
    "i do not": "the user does not",
    "i can't": "the user can't",
    "i cannot": "the user cannot",
    "i didn't": "the user didn't",
    "i wasn't": "the user wasn't",
}
_CONTRACTION = re.compile(r"\b(?:" + "|".join(map(re.escape, _CONTRACTIONS)) + r")\b", _I)
_I_VERB = re.compile(r"\bi\s+((?:(?:" + "|".join(_ADVERBS) + r")\s+)*)([a-z']+)", _I)
_PRONOUNS = re.compile(r"\b(?:my|mine|myself|me)\b", _I)
_PRONOUN_FOR = {"my": "the user's", "mine": "the user's", "myself": "the user", "me": "the user"}


class FactExtractor(Protocol):
    """Finds facts about the user in a message; returns them phrased as "The user …"."""

    def extract(self, text: str) -> list[str] | Awaitable[list[str]]: ...


def _third_person(verb: str) -> str:
    lower = verb.lower()
    if lower in _MODALS:
        return verb
    if lower in _IRREGULAR:
        return _IRREGULAR[lower]
    if lower.endswith(("s", "sh", "ch", "x", "z", "o")):
        return verb + "es"
    if len(lower) > 1 and lower.endswith("y") and lower[-2] not in "aeiou":
        return verb[:-1] + "ies"
    return verb + "s"


def _rewrite(text: str) -> str:
    text = _CONTRACTION.sub(lambda m: _CONTRACTIONS[m.group(0).lower()], text)
    text = _I_VERB.sub(lambda m: f"the user {m.group(1)}{_third_person(m.group(2))}", text)
    text = re.sub(r"\bi\b", "the user", text, flags=_I)
    return _PRONOUNS.sub(lambda m: _PRONOUN_FOR[m.group(0).lower()], text)


def about_user(text: str) -> str:
    """Rewrites first-person text to be about the user: "my cat is Tom" → "The user's cat
    is Tom", "I live in Oslo" → "The user lives in Oslo"."""
    text = _rewrite(text).strip().rstrip(".!;, ")
    return text[:1].upper() + text[1:]


def _clean(text: str) -> str:
    text = text.replace("\u2019", "'").replace("\u2018", "'")
    text = re.sub(r"```.*?(?:```|$)", " ", text, flags=re.DOTALL)  # code is never a fact
    lines = [line for line in text.splitlines() if not line.lstrip().startswith(">")]
    return "\n".join(lines)


def sentences(text: str) -> list[str]:
    """The statements of a message, quotes and code blocks left out."""
    parts = (s.strip() for s in _SENTENCES.split(_clean(text[:MAX_TEXT_CHARS])))
    return [s for s in parts if s and len(s) <= MAX_SENTENCE_CHARS][:MAX_SENTENCES]


def _is_question(sentence: str) -> bool:
    return sentence.endswith("?") or bool(_QUESTION_START.match(sentence))


def explicit_requests(text: str) -> list[str]:
    """Facts the user asked to be remembered ("Remember that my cat is called Tom")."""
    facts: list[str] = []
    for sentence in sentences(text):
        if sentence.endswith("?"):
            continue
        match = _EXPLICIT.match(_FILLER.sub("", sentence))
        if match is None:
            continue
        fact = match.group("fact").strip()
        first = fact.split(maxsplit=1)[0].lower().strip(",:") if fact else ""
        if len(fact.split()) < 2 or first in _NOT_A_FACT_START:
            continue
        rewritten = about_user(fact)
        if len(rewritten) <= MAX_FACT_CHARS:
            facts.append(rewritten)
    return facts


Rule = tuple[re.Pattern[str], str]


def _rule(pattern: str, template: str) -> Rule:
    return re.compile(r"^" + pattern + r"(?P<x>.+)$", _I), template


# Each template is filled with the pattern's groups (lower-cased) and the object `x`.
_RULES: tuple[Rule, ...] = (
    _rule(r"my name is\s+", "The user's name is {x}"),
    _rule(r"i(?:'m| am)? (?:live|living) in\s+", "The user lives in {x}"),
    _rule(r"i work (?P<p>at|for)\s+", "The user works {p} {x}"),
    _rule(r"i work as (?P<a>an?)\s+", "The user works as {a} {x}"),
    _rule(r"i(?:'m| am) allergic to\s+", "The user is allergic to {x}"),
    _rule(r"i(?:'m| am) from\s+", "The user is from {x}"),
    _rule(r"i(?:'m| am) (?P<a>an?)\s+", "The user is {a} {x}"),
    _rule(r"my (?P<k>favou?rite [\w\s-]{1,40}?) (?P<v>is|are)\s+", "The user's {k} {v} {x}"),
    _rule(r"i (?:really |also |just )?(?P<v>like|love|prefer|enjoy|adore)\s+", "The user {v}s {x}"),
    _rule(r"i (?:really )?(?:don't|do not) (?P<v>like|love|enjoy)\s+", "The user doesn't {v} {x}"),
    _rule(r"i (?:really )?(?P<v>hate|dislike)\s+", "The user {v}s {x}"),
    _rule(r"i (?:can't|cannot) stand\s+", "The user can't stand {x}"),
)


def _object(raw: str) -> str | None:
    """The object of a statement, trimmed and about the user, or None when it is too
    vague ("I like it") or too long to be a short fact."""
    value = _CUT_OBJECT.sub("", raw).strip().rstrip(".!;,:)").strip()
    words = value.split()
    if not words or len(words) > MAX_OBJECT_WORDS:
        return None
    if words[0].lower().strip(",") in _VAGUE_OBJECT_START:
        return None
    return _rewrite(value)


class RuleBasedExtractor:
    """Common self-statements, matched at the start of a clause of a statement."""

    def extract(self, text: str) -> list[str]:
        facts: list[str] = []
        for sentence in sentences(text):
            if _is_question(sentence) or _HYPOTHETICAL_START.match(sentence):
                continue
            for clause in _CLAUSES.split(sentence):
                fact = self._fact(_FILLER.sub("", clause.strip()))
                if fact is not None and fact not in facts:
                    facts.append(fact)
        return facts

    @staticmethod
    def _fact(clause: str) -> str | None:
        if _is_question(clause) or _HYPOTHETICAL_START.match(clause):
            return None
        for pattern, template in _RULES:
            match = pattern.match(clause)
            if match is None:
                continue
            value = _object(match.group("x"))
            if value is None:
                return None  # the first matching rule decides
            groups = {k: v.lower() for k, v in match.groupdict().items() if k != "x" and v}
            fact = template.format(**groups, x=value)
            return fact if len(fact) <= MAX_FACT_CHARS else None
        return None
