"""The `uait` program, run as a user runs it: a real `uait serve` process and CLI calls."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest

from tests.conftest import BACKEND_ENV, FAST_HASHING
from tests.servers import free_port

UAIT = str(Path(sys.executable).parent / "uait")


pytestmark = pytest.mark.usefixtures("backend_env")


def cli_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("UAIT_")}
    env.update({"UAIT_DATA_DIR": str(tmp_path / "data"), "UAIT_EMBEDDED__THREADS": "1"})
    env.update(FAST_HASHING)
    if (tmp_path / BACKEND_ENV).is_file():
        env.update(orjson.loads((tmp_path / BACKEND_ENV).read_bytes()))
    env.update({"UAIT_ADMIN_EMAIL": "owner@example.com", "UAIT_ADMIN_PASSWORD": "pw-123456789"})
    env.update({"COLUMNS": "200", **extra})
    return env


@pytest.fixture
def running_server(tmp_path: Path) -> Iterator[str]:
    port = free_port()
    env = cli_env(tmp_path)
    process = subprocess.Popen(
        [UAIT, "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and process.poll() is None:
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        assert process.poll() is None, process.stdout.read().decode()  # type: ignore[union-attr]
        yield url
    finally:
        process.terminate()
        process.wait(timeout=20)


def run_cli(
    tmp_path: Path, *args: str, stdin: str = "", **env: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [UAIT, *args],
        input=stdin,
        env=cli_env(tmp_path, **env),
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def cli_key(running_server: str, tmp_path: Path) -> str:
    created = run_cli(tmp_path, "keys", "create", "--email", "owner@example.com", "--name", "cli")
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip()
    assert key.startswith("uait_")
    return key


def test_models_table(running_server: str, cli_key: str, tmp_path: Path) -> None:
    result = run_cli(tmp_path, "models", "--url", running_server, UAIT_TOKEN=cli_key)
    assert result.returncode == 0, result.stderr
    assert "smollm2" in result.stdout and "embedded" in result.stdout and "yes" in result.stdout
    refused = run_cli(tmp_path, "models", "--url", running_server, "--api-key", "nope")
    assert refused.returncode == 1 and "invalid access token" in refused.stderr


def test_chat_one_message_and_interactive(
    running_server: str, cli_key: str, tmp_path: Path
) -> None:
    once = run_cli(
        tmp_path,
        "chat",
        "smollm2",
        "-m",
        "Say hi.",
        "--url",
        running_server,
        UAIT_TOKEN=cli_key,
    )
    assert once.returncode == 0, once.stderr
    assert once.stdout.strip()
    session = run_cli(
        tmp_path,
        "chat",
        "--url",
        running_server,
        stdin="Hello!\n/reset\nWhat is 2+2?\n/exit\n",
        UAIT_TOKEN=cli_key,
    )
    assert session.returncode == 0, session.stderr
    assert session.stdout.count("you>") == 4
    unknown = run_cli(
        tmp_path, "chat", "nope", "-m", "hi", "--url", running_server, UAIT_TOKEN=cli_key
    )
    assert unknown.returncode == 1 and "model 'nope' not found" in unknown.stderr


def test_serve_refuses_a_bad_configuration(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text('[[models]]\nname = "m"\nbackend = "nowhere"\n')
    result = run_cli(tmp_path, "serve", "--port", str(free_port()), UAIT_CONFIG=str(config))
    assert result.returncode == 1
    assert "unknown backend 'nowhere'" in result.stderr
    assert "Traceback" not in result.stderr


def test_unreachable_server_is_a_clear_error(tmp_path: Path) -> None:
    result = run_cli(tmp_path, "models", "--url", f"http://127.0.0.1:{free_port()}")
    assert result.returncode == 1 and "cannot reach" in result.stderr


def test_users_and_keys_commands(tmp_path: Path) -> None:
    created = run_cli(
        tmp_path, "users", "create", "--email", "ann@example.com", "--password", "ann-pw-12345"
    )
    assert created.returncode == 0, created.stderr
    listed = run_cli(tmp_path, "users", "list")
    assert "ann@example.com" in listed.stdout and "owner@example.com" in listed.stdout
    promoted = run_cli(tmp_path, "users", "set-role", "ann@example.com", "admin")
    assert promoted.returncode == 0 and "is now admin" in promoted.stdout
    suspended = run_cli(tmp_path, "users", "suspend", "ann@example.com")
    assert suspended.returncode == 0 and "is suspended" in suspended.stdout
    key = run_cli(tmp_path, "keys", "create", "--email", "owner@example.com", "--models", "smollm2")
    assert key.returncode == 0 and key.stdout.strip().startswith("uait_")
    keys = run_cli(tmp_path, "keys", "list")
    assert "smollm2" in keys.stdout
    key_id = keys.stdout.split("│")[1].strip() if "│" in keys.stdout else ""
    assert key_id
    bad_role = run_cli(tmp_path, "users", "set-role", "ann@example.com", "emperor")
    assert bad_role.returncode == 1 and "the role must be" in bad_role.stderr
    missing = run_cli(tmp_path, "users", "suspend", "nobody@example.com")
    assert missing.returncode == 1 and "no user" in missing.stderr


def test_chat_in_a_conversation_and_with_an_agent(
    running_server: str, cli_key: str, tmp_path: Path
) -> None:
    headers = {"Authorization": f"Bearer {cli_key}"}
    created = httpx.post(
        f"{running_server}/agents",
        json={
            "name": "echo",
            "system_prompt": "Repeat the user.",
            "model": "smollm2",
            "max_tokens": 32,
        },
        headers=headers,
    )
    assert created.status_code == 201
    session = run_cli(
        tmp_path,
        "chat",
        "--conversation",
        "new",
        "--agent",
        "echo",
        "--url",
        running_server,
        stdin="My dog is Rex.\nWhat is my dog called?\n",
        UAIT_TOKEN=cli_key,
    )
    assert session.returncode == 0, session.stderr
    assert "in conversation" in session.stdout
    conversations = httpx.get(f"{running_server}/conversations", headers=headers).json()["data"]
    assert len(conversations) == 1
    stored = httpx.get(
        f"{running_server}/conversations/{conversations[0]['id']}/messages", headers=headers
    ).json()["data"]
    assert [m["role"] for m in stored] == ["user", "assistant", "user", "assistant"]
    assert stored[1]["agent_id"] == created.json()["id"]
    missing = run_cli(
        tmp_path, "chat", "-c", "nope", "-m", "hi", "--url", running_server, UAIT_TOKEN=cli_key
    )
    assert missing.returncode == 1 and "conversation not found" in missing.stderr
