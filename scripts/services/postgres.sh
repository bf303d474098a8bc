#!/usr/bin/env bash
# Starts a throwaway PostgreSQL 15 on 127.0.0.1 (a free port) for the tests and exports
# TOLLGATE_TEST_DATABASE_URL. Source it:  . scripts/services/postgres.sh
#
# PostgreSQL refuses to run as root, so when run as root the server runs as the unprivileged
# `postgres` user (created if missing). The data directory is temporary and removed on exit
# of the calling shell (the caller's EXIT trap runs `tollgate_postgres_stop`).
# Installs postgresql with apt-get when no server binary is found.

tollgate_postgres_start() {
    local bindir
    bindir="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)"
    if [[ -z "$bindir" || ! -x "$bindir/postgres" ]]; then
        if [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null 2>&1; then
            apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
            bindir="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)"
        fi
    fi
    if [[ -z "$bindir" || ! -x "$bindir/postgres" ]]; then
        echo "postgres.sh: PostgreSQL not installed; tests needing it will skip" >&2
        return 0
    fi
    local run=()
    if [[ "$(id -u)" == 0 ]]; then
        id postgres >/dev/null 2>&1 || useradd --system --no-create-home postgres
        run=(runuser -u postgres --)
    fi
    TOLLGATE_PG_DIR="$(mktemp -d /tmp/tollgate-pg.XXXXXX)"
    chmod 755 "$TOLLGATE_PG_DIR"
    [[ "$(id -u)" == 0 ]] && chown postgres "$TOLLGATE_PG_DIR"
    local port
    port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
    "${run[@]}" "$bindir/initdb" -D "$TOLLGATE_PG_DIR/data" -U tollgate --auth=trust -E UTF8 >/dev/null \
        || { echo "postgres.sh: initdb failed" >&2; return 1; }
    "${run[@]}" "$bindir/pg_ctl" -D "$TOLLGATE_PG_DIR/data" -l "$TOLLGATE_PG_DIR/log" -w \
        -o "-c listen_addresses=127.0.0.1 -p $port -k $TOLLGATE_PG_DIR -c max_connections=300 -c fsync=off" start >/dev/null \
        || { cat "$TOLLGATE_PG_DIR/log" >&2; return 1; }
    "${run[@]}" "$bindir/createdb" -h 127.0.0.1 -p "$port" -U tollgate tollgate_test
    TOLLGATE_PG_BIN="$bindir"
    export TOLLGATE_TEST_DATABASE_URL="postgres://tollgate@127.0.0.1:$port/tollgate_test"
    export TOLLGATE_PG_DIR TOLLGATE_PG_BIN
    echo "PostgreSQL $("$bindir/postgres" --version | awk '{print $3}') on 127.0.0.1:$port (TOLLGATE_TEST_DATABASE_URL)"
}

tollgate_postgres_stop() {
    if [[ -n "${TOLLGATE_PG_DIR:-}" && -d "$TOLLGATE_PG_DIR/data" ]]; then
        local run=()
        [[ "$(id -u)" == 0 ]] && run=(runuser -u postgres --)
        "${run[@]}" "$TOLLGATE_PG_BIN/pg_ctl" -D "$TOLLGATE_PG_DIR/data" -m immediate stop >/dev/null 2>&1 || true
        rm -rf "$TOLLGATE_PG_DIR"
    fi
}

tollgate_postgres_start
