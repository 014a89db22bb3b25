"""The signing secret: never a default, never short, generated once (mode 0600) and kept."""

from __future__ import annotations

import multiprocessing
import os
import stat
import time
from contextlib import AsyncExitStack
from pathlib import Path

import pytest

from tests.auth.conftest import Start
from tests.auth.helpers import OWNER_EMAIL, OWNER_PASSWORD, bearer, log_in, start_app
from tests.conftest import SettingsFactory
from universal_ai_tools.app import create_app
from universal_ai_tools.auth.tokens import load_signing_secret
from universal_ai_tools.settings import ConfigError, Settings

SHORT = ["short", "x" * 31, " " * 40, "\t\n" * 20, "  " + "x" * 20 + "  " * 10]


def test_there_is_no_default_secret(make_settings: SettingsFactory) -> None:
    assert Settings().jwt_secret is None
    assert make_settings().jwt_secret is None
    configured = make_settings(jwt_secret="k" * 40)
    create_app(configured)
    assert not (configured.data_dir / "jwt_secret").exists()  # nothing generated


@pytest.mark.parametrize("secret", SHORT, ids=["word", "31 bytes", "spaces", "blanks", "padded"])
def test_a_short_or_blank_secret_is_refused(make_settings: SettingsFactory, secret: str) -> None:
    settings = make_settings(jwt_secret=secret)
    with pytest.raises(ConfigError, match=r"UAIT_JWT_SECRET must be at least 32 bytes") as info:
        create_app(settings)
    if secret.strip():
        assert secret.strip() not in str(info.value)
    assert not (settings.data_dir / "jwt_secret").exists()


def test_a_short_secret_in_the_environment_is_refused(
    make_settings: SettingsFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("UAIT_JWT_SECRET", "too-short-for-hs256")
    with pytest.raises(ConfigError, match="at least 32 bytes"):
        create_app(make_settings())


def test_an_empty_secret_never_signs(
    make_settings: SettingsFactory, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    with pytest.raises(ConfigError, match="at least 32 bytes"):
        load_signing_secret("", tmp_path)
    # An empty UAIT_JWT_SECRET reads as unset (settings.py): the server either refuses to
    # start or signs with a generated secret, never with the empty one.
    monkeypatch.setenv("UAIT_JWT_SECRET", "")
    for settings in (make_settings(), make_settings(jwt_secret="")):
        try:
            create_app(settings)
        except ConfigError:
            continue
        assert settings.jwt_secret is None
        assert len((settings.data_dir / "jwt_secret").read_text().strip()) >= 32


def test_a_short_generated_secret_file_is_refused(make_settings: SettingsFactory) -> None:
    settings = make_settings()
    settings.data_dir.mkdir(parents=True)
    (settings.data_dir / "jwt_secret").write_text("short\n")
    with pytest.raises(ConfigError, match="too short"):
        create_app(settings)


async def test_the_generated_secret_is_private_and_kept_across_restarts(
    start: Start, make_settings: SettingsFactory
) -> None:
    settings = make_settings()
    path = settings.data_dir / "jwt_secret"
    previous = os.umask(0)  # even a permissive umask gives an owner-only file
    try:
        create_app(settings)
    finally:
        os.umask(previous)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    secret = path.read_text()
    assert len(secret.strip()) >= 32
    async with AsyncExitStack() as stack:
        first = await start_app(settings, stack)
        session = await log_in(first.http, OWNER_EMAIL, OWNER_PASSWORD)
    # A restart on the same data directory: the same secret, so the token still holds.
    second = await start(settings)
    assert path.read_text() == secret
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    response = await second.http.get("/auth/me", headers=bearer(session.access))
    assert response.status_code == 200, response.text
    assert sorted(p.name for p in settings.data_dir.iterdir() if "jwt_secret" in p.name) == [
        "jwt_secret"
    ]


def _first_start(directory: str, at: float) -> str:
    while time.time() < at:
        pass
    try:
        return load_signing_secret(None, Path(directory)).decode()
    except Exception as exc:  # reported to the test, which fails on it
        return f"{type(exc).__name__}: {exc}"


def test_workers_starting_together_agree_on_one_secret(tmp_path: Path) -> None:
    """`uait serve --workers N` on an empty data directory: every worker, one secret."""
    context = multiprocessing.get_context("fork")
    with context.Pool(6) as pool:
        for attempt in range(8):
            directory = str(tmp_path / f"data-{attempt}")
            at = time.time() + 0.05
            results = pool.starmap(_first_start, [(directory, at)] * 6)
            assert len(set(results)) == 1, {result[:50] for result in results}
            assert results[0] == (Path(directory) / "jwt_secret").read_text().strip()
