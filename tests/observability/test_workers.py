"""`uait serve --workers 2`, run as a user runs it: both workers answer, `/metrics` adds
them up, and SIGTERM stops every process."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families

from tests.core.test_cli import UAIT, cli_env
from tests.servers import free_port

EMAIL, PASSWORD = "owner@example.com", "pw-123456789"  # cli_env's first owner
BATCH, MAX_REQUESTS = 16, 1600


@dataclass
class Workers:
    process: subprocess.Popen[bytes]
    url: str
    metrics_dir: Path
    log: Path

    def worker_pids(self) -> set[int]:
        """Each worker builds its metrics at start, and with them a file named by its pid
        (the parent process serves nothing and writes none)."""
        return {
            int(match.group(1))
            for path in self.metrics_dir.iterdir()
            if (match := re.fullmatch(r"gauge_livesum_(\d+)\.db", path.name))
        }

    def health_requests_of(self, pid: int) -> float:
        """What one worker counted for GET /health, read from that worker's own file."""
        path = self.metrics_dir / f"counter_{pid}.db"
        if not path.exists():  # made when the worker counts its first request
            return 0
        return health_requests(MultiProcessCollector.merge([str(path)], accumulate=False))

    def stop(self) -> None:
        """SIGTERM to the whole process group, as a service manager would."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
        self.process.wait(timeout=60)


def health_requests(families: object) -> float:
    total = 0.0
    for family in families:  # type: ignore[attr-defined]
        for sample in family.samples:
            if sample.name == "uait_http_requests_total" and sample.labels["route"] == "/health":
                total += sample.value
    return total


def running(pid: int) -> bool:
    """A process that exists and is not a zombie waiting to be reaped."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return not re.search(r"^State:\s+Z", status, re.MULTILINE)


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[Workers]:
    port = free_port()
    metrics_dir = tmp_path / "prometheus"
    metrics_dir.mkdir()
    env = cli_env(tmp_path, PROMETHEUS_MULTIPROC_DIR=str(metrics_dir))
    env.update({"UAIT_ADMIN_EMAIL": EMAIL, "UAIT_ADMIN_PASSWORD": PASSWORD})
    log = tmp_path / "serve.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [UAIT, "serve", "--port", str(port), "--workers", "2"],
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, workers included
        )
    server = Workers(process, f"http://127.0.0.1:{port}", metrics_dir, log)
    try:
        deadline = time.monotonic() + 120
        while len(server.worker_pids()) < 2 or not healthy(server.url):
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        yield server
    finally:
        server.stop()


def healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/health", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def fresh_health_request(url: str) -> int:
    """One GET /health on a connection of its own, so that either worker may accept it."""
    with httpx.Client(timeout=30) as http:
        return http.get(f"{url}/health", headers={"Connection": "close"}).status_code


def test_metrics_add_up_both_workers(workers: Workers) -> None:
    pids = workers.worker_pids()
    assert len(pids) == 2, pids
    # The readiness probes of the fixture counted too: start from what they left.
    before = sum(workers.health_requests_of(pid) for pid in pids)
    sent = 0
    with ThreadPoolExecutor(max_workers=BATCH) as pool:
        while sent < MAX_REQUESTS:
            statuses = list(pool.map(fresh_health_request, [workers.url] * BATCH))
            assert statuses == [200] * BATCH
            sent += BATCH
            if all(workers.health_requests_of(pid) > 0 for pid in pids):
                break
    per_worker = {pid: workers.health_requests_of(pid) for pid in pids}
    assert all(count > 0 for count in per_worker.values()), per_worker  # both answered

    # A token issued by one worker is good on the other: /metrics with the owner's token.
    with httpx.Client(base_url=workers.url, timeout=30) as http:
        login = http.post("/auth/login", json={"email": EMAIL, "password": PASSWORD})
        assert login.status_code == 200, login.text
        token = login.json()["access_token"]
        assert http.get("/metrics").status_code in (401, 403)
        scraped = http.get("/metrics", headers={"Authorization": f"Bearer {token}"})
    assert scraped.status_code == 200, scraped.text
    families = list(text_string_to_metric_families(scraped.text))
    assert health_requests(families) == before + sent == sum(per_worker.values())


def test_sigterm_stops_every_worker(workers: Workers) -> None:
    pids = workers.worker_pids()
    assert len(pids) == 2 and all(running(pid) for pid in pids), pids
    workers.stop()
    assert workers.process.returncode is not None
    deadline = time.monotonic() + 30
    while any(running(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(running(pid) for pid in pids), workers.log.read_text()
