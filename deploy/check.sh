#!/usr/bin/env bash
# Static checks of deploy/ that need no Docker engine. Each tool is used when installed
# and reported as skipped otherwise:
#   YAML/JSON parse (python3 + PyYAML), the Grafana dashboard (check_dashboard.py),
#   promtool (Debian package `prometheus`), nginx -t (Debian package `nginx`),
#   docker compose config (or docker-compose), hadolint.
set -uo pipefail
cd "$(dirname "$0")"
failed=0
run() { echo "==> $*"; "$@" || { echo "FAILED: $*"; failed=1; }; }
skip() { echo "--- skipped: $*"; }

run python3 - <<'PY'
import json, pathlib, yaml
for path in sorted(pathlib.Path(".").rglob("*")):
    if path.suffix in (".yml", ".yaml"):
        yaml.safe_load(path.read_text())
    elif path.suffix == ".json":
        json.loads(path.read_text())
    else:
        continue
    print("parsed", path)
PY

scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
run python3 check_dashboard.py --promql-rules "$scratch/dashboard-queries.yml"

if command -v promtool >/dev/null; then
  run promtool check config prometheus/prometheus.yml
  run promtool check rules "$scratch/dashboard-queries.yml"
  (cd prometheus && run promtool test rules alerts.test.yml)
else
  skip "promtool (apt-get install prometheus)"
fi

if command -v nginx >/dev/null; then
  run nginx/check.sh
else
  skip "nginx -t (apt-get install nginx)"
fi

export UAIT_JWT_SECRET="placeholder-for-config-validation-only-0123456789"
if docker compose version >/dev/null 2>&1; then
  run docker compose -f docker-compose.yml config --quiet
elif command -v docker-compose >/dev/null; then
  run docker-compose -f docker-compose.yml config --quiet
else
  skip "docker compose config (docker compose plugin or docker-compose)"
fi

if command -v hadolint >/dev/null; then
  run hadolint Dockerfile
else
  skip "hadolint"
fi

[ "$failed" = 0 ] && echo "deploy/ checks passed" || echo "deploy/ checks FAILED"
exit "$failed"
