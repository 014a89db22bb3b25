"""Fails when a module of the package (Python, or the web app's JavaScript) grows past the
line limit (keep modules small)."""

from __future__ import annotations

import sys
from pathlib import Path


def main() -> int:
    root, limit = Path(sys.argv[1]), int(sys.argv[2])
    too_long = [
        (path, count)
        for path in sorted([*root.rglob("*.py"), *root.rglob("*.js")])
        if (count := len(path.read_text().splitlines())) > limit
    ]
    for path, count in too_long:
        print(f"{path}: {count} lines (limit {limit})", file=sys.stderr)
    return 1 if too_long else 0


if __name__ == "__main__":
    raise SystemExit(main())
