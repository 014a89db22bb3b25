"""A lexical check on top of embedding similarity for semantic cache hits.

Sentence embeddings put "convert Celsius to Fahrenheit" next to its reverse, "is it safe"
next to "is it unsafe" and "the capital of France" next to "the capital of Germany".
A semantic hit therefore also needs: the same numbers, the same negations, the shared
content words in the same order when a direction word ("to", "from", "than", ...) is
present, no two words trading places, and no word swapped for another (one prompt may add
words to the other, as paraphrases do, but they may not both have words of their own).
"""

from __future__ import annotations

import re

_WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)?", re.UNICODE)
_NUMBER = re.compile(r"\d+(?:[.,]\d+)?")
NUMBER_WORDS = frozenset(
    [
        "zero",
        "one",
        "two",
        "three",
        "four",
        "five",
        "six",
        "seven",
        "eight",
        "nine",
        "ten",
        "eleven",
        "twelve",
        "thirteen",
        "fourteen",
        "fifteen",
        "twenty",
        "thirty",
        "forty",
        "fifty",
        "hundred",
        "thousand",
        "million",
        "billion",
        "dozen",
        "couple",
        "few",
        "several",
        "single",
        "double",
        "triple",
        "first",
        "second",
        "third",
        "half",
        "quarter",
    ]
)
DIRECTIONS = frozenset(
    ["to", "from", "into", "onto", "than", "vs", "versus", "before", "after", "over", "under"]
)
NEGATIONS = frozenset(
    [
        "not",
        "no",
        "never",
        "none",
        "nothing",
        "nobody",
        "without",
        "cannot",
        "can't",
        "don't",
        "doesn't",
        "isn't",
        "aren't",
        "wasn't",
        "weren't",
        "won't",
        "shouldn't",
        "wouldn't",
        "couldn't",
        "un",
        "non",
    ]
)
STOPWORDS = frozenset(
    [
        "a",
        "an",
        "the",
        "of",
        "to",
        "in",
        "on",
        "for",
        "with",
        "by",
        "at",
        "from",
        "as",
        "is",
        "are",
        "was",
        "were",
        "be",
        "been",
        "being",
        "do",
        "does",
        "did",
        "what",
        "whats",
        "what's",
        "which",
        "who",
        "whom",
        "whose",
        "how",
        "why",
        "when",
        "where",
        "can",
        "could",
        "would",
        "should",
        "will",
        "shall",
        "may",
        "might",
        "must",
        "i",
        "me",
        "my",
        "you",
        "your",
        "we",
        "our",
        "it",
        "its",
        "this",
        "that",
        "these",
        "those",
        "there",
        "here",
        "please",
        "tell",
        "give",
        "explain",
        "describe",
        "show",
        "help",
        "need",
        "want",
        "like",
        "know",
        "about",
        "some",
        "any",
        "and",
        "or",
        "but",
        "so",
        "if",
        "then",
        "than",
        "also",
        "just",
        "really",
        "very",
        "much",
        "many",
        "more",
        "most",
        "quick",
        "quickly",
        "briefly",
        "simply",
        "exactly",
        "hey",
        "hi",
        "hello",
        "thanks",
        "thank",
        "could",
        "you",
        "can",
        "you",
        "me",
        "out",
        "up",
        "get",
        "got",
        "make",
        "let",
        "s",
        "have",
        "has",
        "had",
        "find",
        "mean",
        "means",
        "meaning",
        "define",
        "definition",
        "difference",
        "differ",
        "between",
        "long",
        "they",
        "them",
        "name",
        "located",
        "say",
        "said",
    ]
)


def _stem(word: str) -> str:
    """A light stemmer: possessives, plurals and -ing forms compare equal."""
    word = word.removesuffix("'s")
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        word = word[:-1]
    if len(word) > 5 and word.endswith("ing"):
        word = word[:-3]
    return word


def _words(text: str) -> list[str]:
    return [_stem(w.lower()) for w in _WORD.findall(text)]


def _numbers(text: str, words: list[str]) -> list[str]:
    return sorted(_NUMBER.findall(text) + [w for w in words if w in NUMBER_WORDS])


def _content(words: list[str]) -> list[str]:
    return [
        w
        for w in words
        if w not in STOPWORDS and w not in NEGATIONS and w not in NUMBER_WORDS and not w.isdigit()
    ]


def _swapped(left: list[str], right: list[str]) -> bool:
    """True when `right` is `left` with exactly two words exchanged."""
    differ = [i for i, (x, y) in enumerate(zip(left, right, strict=True)) if x != y]
    return (
        len(differ) == 2
        and left[differ[0]] == right[differ[1]]
        and left[differ[1]] == right[differ[0]]
    )


def compatible(first: str, second: str) -> bool:
    """Whether an answer to `first` may serve `second`, as far as the words tell."""
    words_a, words_b = _words(first), _words(second)
    if _numbers(first, words_a) != _numbers(second, words_b):
        return False
    negated_a = any(w in NEGATIONS or w.endswith("n't") for w in words_a)
    negated_b = any(w in NEGATIONS or w.endswith("n't") for w in words_b)
    if negated_a != negated_b:
        return False
    content_a, content_b = _content(words_a), _content(words_b)
    only_a = set(content_a) - set(content_b)
    only_b = set(content_b) - set(content_a)
    if only_a and only_b:
        return False
    shared = set(content_a) & set(content_b)
    left = [w for w in dict.fromkeys(content_a) if w in shared]
    right = [w for w in dict.fromkeys(content_b) if w in shared]
    if _swapped(left, right):
        return False  # two words traded places: "euros in dollars" / "dollars in euros"
    if DIRECTIONS & (set(words_a) | set(words_b)):
        return left == right  # around "to", "from", "than"... order is meaning
    return True
