"""Each check of deploy/check.sh, run by name: skipped with the reason where its tool is
missing, a failure instead in CI (CI=true)."""

from __future__ import annotations

import pytest

from tests.deploy.tools import SKIPPED, missing_tool, run_check, skipped_reason


@pytest.mark.parametrize("check", ["parse", "dashboard", "promtool", "nginx", "compose"])
def test_deploy_check(check: str) -> None:
    result = run_check(check)
    output = result.stdout + result.stderr
    if result.returncode == SKIPPED:
        missing_tool(skipped_reason(output))
    assert result.returncode == 0, output
    assert "deploy/ checks passed" in output


def test_dockerfile_lint() -> None:
    """hadolint has no Debian package: this one is skipped wherever it is not installed,
    CI included."""
    result = run_check("hadolint")
    output = result.stdout + result.stderr
    if result.returncode == SKIPPED:
        pytest.skip(skipped_reason(output))
    assert result.returncode == 0, output


def test_an_unknown_check_is_refused() -> None:
    result = run_check("nonsense")
    assert result.returncode == 2
    assert "unknown check: nonsense" in result.stdout
