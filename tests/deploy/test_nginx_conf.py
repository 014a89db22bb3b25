"""deploy/nginx/nginx.conf does what the edge is for, read from its text: WebSocket
upgrade on /ws, unbuffered streaming routes, bounded timeouts, /metrics closed."""

from __future__ import annotations

import pytest

from tests.deploy.nginx_conf import Block, parse, seconds
from tests.deploy.tools import DEPLOY

STREAMING = ["/v1/", "/api/", "^/(conversations|agents)/[^/]+/chat$"]


@pytest.fixture(scope="module")
def http() -> Block:
    return parse((DEPLOY / "nginx" / "nginx.conf").read_text()).block("http")


@pytest.fixture(scope="module")
def server(http: Block) -> Block:
    (server,) = http.all("server")
    return server


def location(server: Block, path: str) -> Block:
    for block in server.all("location"):
        if block.args[-1] == path:
            return block
    raise KeyError(path)


def test_websocket_upgrade_on_ws(http: Block, server: Block) -> None:
    upgrade_map = http.block("map", "$http_upgrade", "$connection_upgrade")
    assert ["default", "upgrade"] in upgrade_map.directives
    assert ["", ""] in upgrade_map.directives  # no upgrade asked: keepalive stays usable
    assert server.value("proxy_http_version") == "1.1"
    headers = dict((name.lower(), value) for name, value in server.values("proxy_set_header"))
    assert headers["upgrade"] == "$http_upgrade"
    assert headers["connection"] == "$connection_upgrade"
    ws = location(server, "/ws")
    assert ws.args == ["=", "/ws"]
    assert ws.value("proxy_pass") == "http://uait"
    assert seconds(ws.value("proxy_read_timeout") or "0") >= 600  # idle rooms stay open


def test_no_location_drops_the_shared_headers(server: Block) -> None:
    """One proxy_set_header in a location would replace every header set at server level
    (Upgrade and Connection included) for that location."""
    for block in server.all("location"):
        assert not block.values("proxy_set_header"), block.args


@pytest.mark.parametrize("path", STREAMING)
def test_streaming_routes_are_not_buffered(server: Block, path: str) -> None:
    block = location(server, path)
    assert block.value("proxy_pass") == "http://uait"
    assert block.value("proxy_buffering") == "off"
    assert block.value("proxy_cache") == "off"
    # long enough for a model that loads before its first token, but bounded
    assert 120 <= seconds(block.value("proxy_read_timeout") or "0") <= 3600
    # X-Accel-Buffering from the app must keep working
    ignored = [header for args in block.values("proxy_ignore_headers") for header in args]
    assert "X-Accel-Buffering" not in ignored


def test_timeouts_are_bounded(server: Block) -> None:
    assert seconds(server.value("proxy_connect_timeout") or "0") <= 10
    assert 30 <= seconds(server.value("proxy_read_timeout") or "0") <= 600
    assert 30 <= seconds(server.value("proxy_send_timeout") or "0") <= 600


def test_upstream_spreads_over_the_apps(http: Block) -> None:
    upstream = http.block("upstream", "uait")
    servers = [args[0] for args in upstream.values("server")]
    assert servers == ["app1:8000", "app2:8000"]
    assert upstream.values("least_conn") == [[]]
    assert upstream.value("keepalive")


def test_metrics_are_closed_at_the_edge(server: Block) -> None:
    metrics = location(server, "/metrics")
    assert metrics.values("return") == [["404"]]
