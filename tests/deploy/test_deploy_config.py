"""Each check of deploy/check.sh, run by name: skipped with the reason where its tool is
missing, a failure instead in CI (CI=true)."""

from __future__ import annotations

import pytest

from tests.deploy.tools import SKIPPED, missing_tool, run_check, skipped_reason

CHECKS = ["parse", "dashboard", "promtool", "nginx", "compose", "hadolint"]


@pytest.mark.parametrize("check", CHECKS)
def test_deploy_check(check: str) -> None:
    result = run_check(check)
    output = result.stdout + result.stderr
    if result.returncode == SKIPPED:
        missing_tool(skipped_reason(output))
    assert result.returncode == 0, output
    assert "deploy/ checks passed" in output


def test_an_unknown_check_is_refused() -> None:
    result = run_check("nonsense")
    assert result.returncode == 2
    assert "unknown check: nonsense" in result.stdout
