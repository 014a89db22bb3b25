"""A small reader of nginx configuration text: directives and blocks, comments dropped."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_TOKEN = re.compile(r"'[^']*'|\"[^\"]*\"|[{};]|[^\s{};'\"]+")


@dataclass
class Block:
    name: str
    args: list[str]
    directives: list[list[str]] = field(default_factory=list)  # [name, *args]
    blocks: list[Block] = field(default_factory=list)

    def values(self, name: str) -> list[list[str]]:
        return [d[1:] for d in self.directives if d[0] == name]

    def value(self, name: str) -> str | None:
        found = self.values(name)
        return " ".join(found[-1]) if found else None

    def block(self, name: str, *args: str) -> Block:
        for block in self.blocks:
            if block.name == name and block.args == list(args):
                return block
        raise KeyError(f"no block {name} {' '.join(args)}")

    def all(self, name: str) -> list[Block]:
        return [b for b in self.blocks if b.name == name]


def _without_comment(line: str) -> str:
    quote = ""
    for index, char in enumerate(line):
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == "#":
            return line[:index]
    return line


def parse(text: str) -> Block:
    tokens = _TOKEN.findall("\n".join(map(_without_comment, text.splitlines())))
    root = Block("main", [])
    stack = [root]
    words: list[str] = []
    for token in tokens:
        if token == ";":
            stack[-1].directives.append(words)
            words = []
        elif token == "{":
            block = Block(words[0], words[1:])
            stack[-1].blocks.append(block)
            stack.append(block)
            words = []
        elif token == "}":
            stack.pop()
        else:
            words.append(token.strip("'\"") if token[0] in "'\"" else token)
    assert len(stack) == 1 and not words, "unbalanced braces"
    return root


def seconds(duration: str) -> float:
    """nginx durations: 90, 90s, 5m, 1h, 1d."""
    number, unit = re.fullmatch(r"(\d+)(ms|s|m|h|d)?", duration).groups()  # type: ignore[union-attr]
    factor = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}[unit or "s"]
    return int(number) * factor
