"""The fact extractor and explicit "remember that …" requests, on plain sentences."""

from __future__ import annotations

import pytest

from universal_ai_tools.memory.extract import (
    FactExtractor,
    RuleBasedExtractor,
    about_user,
    explicit_requests,
)

STATEMENTS = [
    ("My name is Alice.", ["The user's name is Alice"]),
    (
        "Hi, my name is Bob and I live in Berlin.",
        ["The user's name is Bob", "The user lives in Berlin"],
    ),
    ("I live in New York City", ["The user lives in New York City"]),
    ("I work at Acme Corp.", ["The user works at Acme Corp"]),
    ("I work for the city council", ["The user works for the city council"]),
    ("I'm a software engineer", ["The user is a software engineer"]),
    ("I am an architect!", ["The user is an architect"]),
    ("My favourite colour is teal", ["The user's favourite colour is teal"]),
    ("my favorite foods are sushi and ramen", ["The user's favorite foods are sushi and ramen"]),
    ("I like jazz, but only in the evening.", ["The user likes jazz"]),
    ("I really love hiking with my dog", ["The user loves hiking with the user's dog"]),
    ("I prefer short answers.", ["The user prefers short answers"]),
    ("I\u2019m allergic to peanuts", ["The user is allergic to peanuts"]),
    ("I don't like cilantro", ["The user doesn't like cilantro"]),
    ("I hate waking up early because it is hard", ["The user hates waking up early"]),
    ("Btw I am from Norway", ["The user is from Norway"]),
]

NOTHING = [
    "What is my name?",
    "what is my favourite colour",
    "Do I live in Berlin",
    "Where do I work?",
    "Is my favourite colour teal?",
    "Am I allergic to peanuts?",
    "If I lived in Paris, I would like croissants.",
    "Imagine my name is Bob.",
    "I am a bit tired today",
    "I love you",
    "I like it",
    "I'd like a coffee",
    "I think I like that",
    "Tell me a joke about cats.",
    "> my name is Quoted\n",
    "```\nmy name is Code\n```",
    "My name is not important",
    "",
]


@pytest.mark.parametrize(("text", "facts"), STATEMENTS)
def test_self_statements(text: str, facts: list[str]) -> None:
    assert RuleBasedExtractor().extract(text) == facts
    assert explicit_requests(text) == []


@pytest.mark.parametrize("text", NOTHING)
def test_questions_and_vague_statements_yield_nothing(text: str) -> None:
    assert RuleBasedExtractor().extract(text) == []
    assert explicit_requests(text) == []


@pytest.mark.parametrize(
    ("text", "facts"),
    [
        ("Remember that my favourite colour is teal", ["The user's favourite colour is teal"]),
        ("Please remember I'm vegan.", ["The user is vegan"]),
        ("REMEMBER THAT I have two cats", ["The user has two cats"]),
        (
            "Don't forget that my sister's birthday is May 3!",
            ["The user's sister's birthday is May 3"],
        ),
        ("do not forget: I work night shifts", ["The user works night shifts"]),
        ("Remember that the meeting is on Friday, please", ["The meeting is on Friday"]),
        ("OK. Remember my wife is called Jo. What's the time?", ["The user's wife is called Jo"]),
        ("remember to buy milk", []),
        ("Do you remember that I like tea?", []),
        ("I remember that day well", []),
        ("Remember when we met?", []),
    ],
)
def test_explicit_requests(text: str, facts: list[str]) -> None:
    assert explicit_requests(text) == facts


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("my cat is called Tom", "The user's cat is called Tom"),
        ("I go swimming every day", "The user goes swimming every day"),
        ("I study physics", "The user studies physics"),
        ("I can speak French", "The user can speak French"),
        ("I also play chess with my brother", "The user also plays chess with the user's brother"),
        ("I've got a boat", "The user has got a boat"),
        ("the meeting is on Friday.", "The meeting is on Friday"),
    ],
)
def test_about_user(text: str, expected: str) -> None:
    assert about_user(text) == expected


def test_the_rule_based_extractor_is_a_fact_extractor() -> None:
    extractor: FactExtractor = RuleBasedExtractor()
    assert extractor.extract("My name is Ada") == ["The user's name is Ada"]


def test_long_or_pathological_text_is_cheap_and_yields_nothing() -> None:
    for text in ("remember " + "." * 200_000 + "x", "my name is " + "a" * 100_000):
        assert explicit_requests(text) == []
        assert RuleBasedExtractor().extract(text) == []
    text = "I write long notes. " * 5_000 + "My name is Zed."
    assert RuleBasedExtractor().extract(text) == []  # only the first sentences are read
