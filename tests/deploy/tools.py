"""What the deploy tests share: where deploy/ is, and how a missing tool is treated."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
SKIPPED = 77  # deploy/check.sh NAME: the check's tool is not installed


def missing_tool(reason: str) -> None:
    """Skip, with the reason; in CI (CI=true) every tool must be installed, so fail."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}: CI=true, where .ci/run installs it")
    pytest.skip(reason)


def run_check(name: str) -> subprocess.CompletedProcess[str]:
    """One check of deploy/check.sh, with this interpreter (which has PyYAML)."""
    return subprocess.run(
        ["bash", str(DEPLOY / "check.sh"), name],
        env={**os.environ, "PYTHON": sys.executable},
        capture_output=True,
        text=True,
        timeout=300,
    )


def skipped_reason(output: str) -> str:
    lines = [line for line in output.splitlines() if line.startswith("--- skipped: ")]
    return "; ".join(line.removeprefix("--- skipped: ") for line in lines) or "tool missing"
