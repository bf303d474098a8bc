#!/usr/bin/env bash
# Starts a throwaway redis-server for the tests on a free local port (installing it with apt-get
# when missing) and prints its URL. The server runs in the background with no persistence; stop
# it with `kill "$(cat "$DIR/redis.pid")"` (scripts/test.sh does that on exit).
#
#   url=$(scripts/services/redis.sh /tmp/some-dir)
set -euo pipefail

DIR="${1:?usage: redis.sh <state-dir>}"
mkdir -p "$DIR"

if ! command -v redis-server >/dev/null 2>&1; then
    echo "redis.sh: installing redis-server" >&2
    SUDO=""
    [[ $(id -u) -ne 0 ]] && SUDO="sudo"
    $SUDO apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq redis-server >&2
fi

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
redis-server --port "$PORT" --bind 127.0.0.1 --save '' --appendonly no \
    --dir "$DIR" --daemonize yes --pidfile "$DIR/redis.pid" --logfile "$DIR/redis.log" >&2
for _ in $(seq 1 100); do
    if redis-cli -p "$PORT" ping >/dev/null 2>&1; then
        echo "redis://127.0.0.1:$PORT"
        exit 0
    fi
    sleep 0.05
done
echo "redis.sh: redis-server did not start; its log:" >&2
cat "$DIR/redis.log" >&2 || true
exit 1
