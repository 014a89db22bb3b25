"""`uait serve --workers 2`, run as a user runs it: both workers answer, `/metrics` adds
them up, and SIGTERM stops every process."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from prometheus_client.metrics_core import Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families

from tests.processes import Serve, healthy, start_serve
from tests.servers import free_port

pytestmark = pytest.mark.usefixtures("backend_env")  # PostgreSQL in the second pass

EMAIL, PASSWORD = "owner@example.com", "pw-123456789"  # cli_env's first owner
BATCH, MAX_REQUESTS = 16, 1600


class Workers:
    def __init__(self, server: Serve, metrics_dir: Path) -> None:
        self.server = server
        self.metrics_dir = metrics_dir

    def pids(self) -> set[int]:
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
        merged = MultiProcessCollector.merge([str(path)], accumulate=False)  # type: ignore[no-untyped-call]
        return health_requests(merged)


def health_requests(families: Iterable[Metric]) -> float:
    return sum(
        sample.value
        for family in families
        for sample in family.samples
        if sample.name == "uait_http_requests_total" and sample.labels["route"] == "/health"
    )


def running(pid: int) -> bool:
    """A process that exists and is not a zombie waiting to be reaped."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return not re.search(r"^State:\s+Z", status, re.MULTILINE)


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[Workers]:
    metrics_dir = tmp_path / "prometheus"  # set here so that the test can look into it
    metrics_dir.mkdir()
    server = start_serve(
        tmp_path, "serve", "--workers", "2", PROMETHEUS_MULTIPROC_DIR=str(metrics_dir)
    )
    try:
        found = Workers(server, metrics_dir)
        server.wait_until(lambda: len(found.pids()) == 2)
        yield found
    finally:
        server.stop()


def settled(count: Callable[[], float]) -> float:
    """The count once it stops moving: a worker counts a request as its answer leaves,
    so the last answers a client has seen may not be counted yet."""
    last = count()
    while True:
        time.sleep(0.3)
        now = count()
        if now == last:
            return now
        last = now


def fresh_health_request(url: str) -> int:
    """One GET /health on a connection of its own, so that either worker may accept it."""
    with httpx.Client(timeout=30) as http:
        return http.get(f"{url}/health", headers={"Connection": "close"}).status_code


def test_metrics_add_up_both_workers(workers: Workers) -> None:
    pids = workers.pids()
    url = workers.server.url
    assert healthy(url)
    # The start-up probes counted too: start from what the workers' files hold now.
    before = settled(lambda: sum(workers.health_requests_of(pid) for pid in pids))
    sent = 0
    with ThreadPoolExecutor(max_workers=BATCH) as pool:
        while sent < MAX_REQUESTS:
            statuses = list(pool.map(fresh_health_request, [url] * BATCH))
            assert statuses == [200] * BATCH
            sent += BATCH
            if all(workers.health_requests_of(pid) > 0 for pid in pids):
                break
    settled(lambda: sum(workers.health_requests_of(pid) for pid in pids))
    per_worker = {pid: workers.health_requests_of(pid) for pid in pids}
    assert all(count > 0 for count in per_worker.values()), per_worker  # both answered

    # A token issued by one worker is good on the other: /metrics with the owner's token.
    with httpx.Client(base_url=url, timeout=30) as http:
        login = http.post("/auth/login", json={"email": EMAIL, "password": PASSWORD})
        assert login.status_code == 200, login.text
        token = login.json()["access_token"]
        assert http.get("/metrics").status_code in (401, 403)
        scraped = http.get("/metrics", headers={"Authorization": f"Bearer {token}"})
    assert scraped.status_code == 200, scraped.text
    families = text_string_to_metric_families(scraped.text)
    assert health_requests(families) == before + sent == sum(per_worker.values())


def test_sigterm_stops_every_worker(workers: Workers) -> None:
    pids = workers.pids()
    assert len(pids) == 2 and all(running(pid) for pid in pids), pids
    workers.server.stop()
    assert workers.server.process.returncode is not None
    # the parent waits for its workers before it exits: none may be left behind
    assert not any(running(pid) for pid in pids), workers.server.log.read_text()


DEAD_BACKEND = """
[[backends]]
name = "dead"
kind = "ollama"
url = "http://127.0.0.1:{port}"

[[models]]
name = "down"
backend = "dead"
target = "down"
"""


def breaker_state(url: str, backend: str) -> float | None:
    """`uait_backend_breaker_state` of a backend as /metrics shows it (public here)."""
    with httpx.Client(timeout=30) as http:  # a fresh connection: either worker answers
        scraped = http.get(f"{url}/metrics", headers={"Connection": "close"}).text
    for family in text_string_to_metric_families(scraped):
        for sample in family.samples:
            if sample.name == "uait_backend_breaker_state" and sample.labels == {
                "backend": backend
            }:
                return sample.value
    return None


def test_breaker_state_of_either_worker_is_scraped(tmp_path: Path) -> None:
    """A gauge read from a function (the breaker state) reaches /metrics from the worker
    whose breaker opened, whichever worker answers the scrape."""
    config = tmp_path / "uait.toml"
    config.write_text(DEAD_BACKEND.format(port=free_port()))  # nothing listens there
    temporary = tmp_path / "tmp"  # where `uait serve` makes its PROMETHEUS_MULTIPROC_DIR
    temporary.mkdir()
    server = start_serve(
        tmp_path,
        "serve",
        "--workers",
        "2",
        TMPDIR=str(temporary),
        UAIT_CONFIG=str(config),
        UAIT_OBSERVABILITY__METRICS_PUBLIC="true",
        UAIT_ROUTING__ATTEMPTS="1",
        UAIT_ROUTING__BREAKER_THRESHOLD="1",
        UAIT_ROUTING__BREAKER_COOLDOWN="3600",  # stays open for the whole test
        UAIT_ROUTING__HEALTH_INTERVAL="0",
    )
    try:
        assert breaker_state(server.url, "dead") == 0
        with httpx.Client(base_url=server.url, timeout=60) as http:
            login = http.post("/auth/login", json={"email": EMAIL, "password": PASSWORD})
            headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
            body = {"model": "down", "messages": [{"role": "user", "content": "hi"}]}
            refused = http.post("/v1/chat/completions", json=body, headers=headers)
        assert refused.status_code == 503, refused.text  # one worker's breaker opens
        # Scrapes land on either worker; every one of them must see the open breaker
        # (the other worker's stays closed: the maximum is what /metrics shows).
        states = [breaker_state(server.url, "dead") for _ in range(12)]
        assert states == [2] * 12, states
        assert len(list(temporary.glob("uait-metrics-*"))) == 1
    finally:
        server.stop()
    assert not list(temporary.glob("uait-metrics-*"))  # removed when the server stops
