"""Static checks of deploy/grafana/dashboards/uait.json (no Grafana needed).

    python deploy/check_dashboard.py [--promql-rules OUT.yml]

Checks: schemaVersion >= 36, unique panel ids, panels on the 24-column grid without
overlaps, every query through the ${datasource} variable, and every metric the server
exposes shown somewhere. With --promql-rules it also writes every query (Grafana's
variables replaced by plain values) as a Prometheus rule file, so that
`promtool check rules OUT.yml` parses each PromQL expression.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

DASHBOARD = Path(__file__).parent / "grafana" / "dashboards" / "uait.json"
EXPECTED_METRICS = [
    "uait_http_requests_total",
    "uait_http_request_duration_seconds_bucket",
    "uait_llm_requests_total",
    "uait_llm_tokens_total",
    "uait_llm_time_to_first_token_seconds_bucket",
    "uait_llm_inter_token_seconds_bucket",
    "uait_cache_lookups_total",
    "uait_backend_up",
    "uait_backend_breaker_state",
    "uait_ws_connections",
    "uait_ws_messages_total",
    "uait_embedded_queue_depth",
    "uait_rate_limited_total",
    "uait_auth_failures_total",
]


def main() -> int:
    dashboard = json.loads(DASHBOARD.read_text())
    errors: list[str] = []
    if dashboard.get("schemaVersion", 0) < 36:
        errors.append("schemaVersion below 36")
    names = [v["name"] for v in dashboard["templating"]["list"]]
    if "datasource" not in names:
        errors.append("no datasource variable")
    ids: set[int] = set()
    cells: dict[tuple[int, int], int] = {}
    exprs: list[str] = []
    for panel in dashboard["panels"]:
        if panel["id"] in ids:
            errors.append(f"duplicate panel id {panel['id']}")
        ids.add(panel["id"])
        g = panel["gridPos"]
        if g["x"] < 0 or g["x"] + g["w"] > 24:
            errors.append(f"panel {panel['title']!r} leaves the grid")
        for x in range(g["x"], g["x"] + g["w"]):
            for y in range(g["y"], g["y"] + g["h"]):
                if (x, y) in cells:
                    errors.append(f"panel {panel['title']!r} overlaps panel {cells[(x, y)]}")
                    break
                cells[(x, y)] = panel["id"]
        if panel["type"] == "row":
            continue
        for item in [panel, *panel.get("targets", [])]:
            if item.get("datasource", {}).get("uid") != "${datasource}":
                errors.append(f"panel {panel['title']!r} does not use ${{datasource}}")
        exprs += [t["expr"] for t in panel["targets"]]
    shown = " ".join(exprs)
    for metric in EXPECTED_METRICS:
        if metric not in shown:
            errors.append(f"metric {metric} is on no panel")
    if "--promql-rules" in sys.argv:
        out = Path(sys.argv[sys.argv.index("--promql-rules") + 1])
        rules = []
        for i, expr in enumerate(exprs):
            plain = (
                expr.replace("$__rate_interval", "1m")
                .replace("$__range", "1h")
                .replace("$instance", ".*")
            )
            if re.search(r"\$\w", plain):
                errors.append(f"unreplaced variable in {expr}")
            rules.append({"record": f"dashboard:query_{i}", "expr": plain})
        out.write_text(json.dumps({"groups": [{"name": "dashboard", "rules": rules}]}, indent=1))
    for error in errors:
        print("error:", error)
    panels = sum(1 for p in dashboard["panels"] if p["type"] != "row")
    print(f"{DASHBOARD.name}: {panels} panels, {len(exprs)} queries, {len(errors)} errors")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
