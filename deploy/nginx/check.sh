#!/usr/bin/env bash
# Tests deploy/nginx/nginx.conf with a local nginx, without Docker: the upstream names
# (app1, app2, resolved by Docker's DNS in compose) become loopback addresses, and the
# listen port, pid and every temp path move into a scratch prefix (no root-only path).
#
#   deploy/nginx/check.sh                 # nginx -t only
#   deploy/nginx/check.sh run PORT P1 P2  # also start it on PORT in front of 127.0.0.1:P1
#                                         # and 127.0.0.1:P2 (stop: nginx -p DIR -s stop)
#   deploy/nginx/check.sh serve PORT P1 P2  # the same in the foreground (no daemon) until
#                                           # SIGTERM/SIGINT; the scratch prefix is removed
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
mode="${1:-test}"
port="${2:-18080}"
app1="${3:-18001}"
app2="${4:-18002}"
nginx_bin="${NGINX:-nginx}"
prefix="$(mktemp -d "${TMPDIR:-/tmp}/uait-nginx.XXXXXX")"
mkdir -p "$prefix/logs" "$prefix/tmp"

sed -e "s#server app1:8000#server 127.0.0.1:${app1}#" \
    -e "s#server app2:8000#server 127.0.0.1:${app2}#" \
    -e "s#listen 80 default_server#listen 127.0.0.1:${port} default_server#" \
    -e "s#^pid .*#pid ${prefix}/nginx.pid;#" \
    -e "s#^http {#http {\n    client_body_temp_path ${prefix}/tmp/body;\n    proxy_temp_path ${prefix}/tmp/proxy;\n    fastcgi_temp_path ${prefix}/tmp/fastcgi;\n    uwsgi_temp_path ${prefix}/tmp/uwsgi;\n    scgi_temp_path ${prefix}/tmp/scgi;#" \
    "$here/nginx.conf" >"$prefix/nginx.conf"

# The substitutions must all have happened, or the test would test something else.
grep -q "server 127.0.0.1:${app1}" "$prefix/nginx.conf"
grep -q "server 127.0.0.1:${app2}" "$prefix/nginx.conf"
grep -q "listen 127.0.0.1:${port}" "$prefix/nginx.conf"
grep -q "pid ${prefix}/nginx.pid" "$prefix/nginx.conf"

"$nginx_bin" -t -p "$prefix" -c "$prefix/nginx.conf" -e "$prefix/logs/error.log"
if [ "$mode" = "run" ]; then
  "$nginx_bin" -p "$prefix" -c "$prefix/nginx.conf" -e "$prefix/logs/error.log"
  echo "nginx running on 127.0.0.1:${port}, prefix ${prefix}"
elif [ "$mode" = "serve" ]; then
  trap 'rm -rf "$prefix"' EXIT
  trap 'kill -TERM "$child" 2>/dev/null; wait "$child"; exit 0' TERM INT
  "$nginx_bin" -p "$prefix" -c "$prefix/nginx.conf" -e "$prefix/logs/error.log" \
    -g "daemon off;" &
  child=$!
  wait "$child"
else
  rm -rf "$prefix"
fi
