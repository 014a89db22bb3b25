"""The lexical guard refuses the near misses that embeddings cannot tell apart."""

from __future__ import annotations

import pytest

from universal_ai_tools.cache.guard import compatible


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("What is the capital of France?", "What is the capital city of France?"),
        ("How do I reverse a list in Python?", "python reverse a list"),
        ("What is 12*12?", "What's 12 * 12?"),
        ("Tell me how many legs a spider has.", "How many legs does a spider have?"),
        ("What does GDP stand for?", "GDP stands for what?"),
    ],
)
def test_paraphrases_pass(a: str, b: str) -> None:
    assert compatible(a, b)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("What is the capital of France?", "What is the capital of Germany?"),
        ("What is 2+2?", "What is 2+3?"),
        ("Is coffee safe during pregnancy?", "Is coffee not safe during pregnancy?"),
        ("Convert 30 Celsius to Fahrenheit", "Convert 30 Fahrenheit to Celsius"),
        ("Write a haiku about autumn.", "Write three haiku about autumn."),
        ("Sort a list in Python", "Sort a list in JavaScript"),
    ],
)
def test_near_misses_are_refused(a: str, b: str) -> None:
    assert not compatible(a, b)
