#!/usr/bin/env bash
# Runs every check and test of the repository; exits non-zero if any fails.
#
#   ./scripts/test.sh
#
# 1. cargo fmt --check          4. Rust tests (cargo nextest if installed, else cargo test) + doc tests
# 2. cargo clippy -D warnings   5. fuzzing: every cargo-fuzz target in fuzz/ for 15 s (skip with
# 3. cargo build (once)            TOLLGATE_SKIP_FUZZ=1; TOLLGATE_FUZZ_SECONDS=N to change the time)
#                               6. end-to-end tests: the official `openai` Python SDK (and the
#                                  Codex CLI, from npm) against the real `tollgate` binary in
#                                  front of the real `tollgate-mock`
#
# The Python side lives in tests/e2e/.venv, created on first use and reinstalled only when
# tests/e2e/requirements.txt changes. Needs cargo and python3 (with venv/ensurepip).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT="$(pwd)"
STARTED=$SECONDS
SECTION_STARTED=$SECONDS

section() {
    if [[ -n "${SECTION_NAME:-}" ]]; then
        printf '    (%s: %ds)\n' "$SECTION_NAME" $((SECONDS - SECTION_STARTED))
    fi
    SECTION_NAME="$1"
    SECTION_STARTED=$SECONDS
    printf '\n==== %s ====\n' "$1"
}

fail() {
    printf '\nFAILED: %s\n' "$1" >&2
    exit 1
}

trap 'rc=$?; if [[ $rc -ne 0 ]]; then printf "\nscripts/test.sh: failed (exit %d) in section: %s, after %ds\n" "$rc" "${SECTION_NAME:-setup}" $((SECONDS - STARTED)) >&2; fi' EXIT

section "cargo fmt --check"
cargo fmt --all -- --check || fail "formatting (run: cargo fmt --all)"

section "cargo clippy -D warnings"
cargo clippy --workspace --all-targets -- -D warnings || fail "clippy"

section "cargo build"
cargo build --workspace --all-targets || fail "build"

section "Services for the tests (redis-server, PostgreSQL)"
# Multi-instance tests share state through a real Redis (TOLLGATE_TEST_REDIS_URL); the storage
# tests use a throwaway PostgreSQL on 127.0.0.1 (TOLLGATE_TEST_DATABASE_URL), run as an
# unprivileged user.
SERVICES_DIR="$(mktemp -d)"
stop_services() {
    if [[ -f "$SERVICES_DIR/redis/redis.pid" ]]; then
        kill "$(cat "$SERVICES_DIR/redis/redis.pid")" 2>/dev/null || true
    fi
    tollgate_postgres_stop 2>/dev/null || true
    rm -rf "$SERVICES_DIR"
}
trap 'rc=$?; stop_services; if [[ $rc -ne 0 ]]; then printf "\nscripts/test.sh: failed (exit %d) in section: %s, after %ds\n" "$rc" "${SECTION_NAME:-setup}" $((SECONDS - STARTED)) >&2; fi' EXIT
TOLLGATE_TEST_REDIS_URL="$(scripts/services/redis.sh "$SERVICES_DIR/redis")" || fail "starting redis-server"
export TOLLGATE_TEST_REDIS_URL
echo "redis: $TOLLGATE_TEST_REDIS_URL"
# shellcheck source=services/postgres.sh
. "$ROOT/scripts/services/postgres.sh" || fail "starting PostgreSQL"
[[ -n "${TOLLGATE_TEST_DATABASE_URL:-}" ]] || fail "PostgreSQL did not start"

section "Rust tests"
if cargo nextest --version >/dev/null 2>&1; then
    cargo nextest run --workspace || fail "Rust tests (nextest)"
    section "Rust doc tests"
    cargo test --workspace --doc || fail "doc tests"
else
    echo "(cargo-nextest not installed: using cargo test, which runs the doc tests too)"
    cargo test --workspace || fail "Rust tests (cargo test)"
fi

section "Fuzzing (cargo fuzz, ${TOLLGATE_FUZZ_SECONDS:-15} s a target)"
# Bounded runs of the coverage-guided targets in fuzz/ (fuzz/README.md), seeded from the hand-
# written seeds and the recorded provider payloads in ../shared/fixtures; corpora live in a
# temporary directory, never in the repository. A crash fails the run and leaves its input in
# fuzz/artifacts/TARGET/ (git-ignored); `cargo fuzz run TARGET THAT_FILE` replays it.
if [[ "${TOLLGATE_SKIP_FUZZ:-}" == 1 ]]; then
    echo "(skipped: TOLLGATE_SKIP_FUZZ=1)"
elif ! cargo fuzz --version >/dev/null 2>&1; then
    if [[ "${CI:-}" == true ]]; then
        fail "cargo-fuzz is not installed (.ci/run installs it: cargo install cargo-fuzz --locked)"
    fi
    echo "(cargo-fuzz not installed: skipped; cargo install cargo-fuzz --locked)"
else
    # cargo fuzz builds with nightly-only flags (-Zsanitizer, sancov coverage passes); the
    # machines have only the stable toolchain and can fetch no other, and RUSTC_BOOTSTRAP=1
    # makes stable rustc and cargo accept them.
    export RUSTC_BOOTSTRAP=1
    # `-s none`: no sanitizer (still coverage-guided, with debug assertions and overflow
    # checks). The code under test forbids `unsafe`, so AddressSanitizer would only watch
    # dependencies, at about 1/6 of the executions per second.
    FUZZ_FLAGS=(-s none)
    # The fuzz crate is a workspace of its own (outside the fmt and clippy runs above); give
    # it the main workspace's dependency versions.
    cargo fmt --manifest-path fuzz/Cargo.toml --all -- --check || fail "formatting of fuzz/"
    cp Cargo.lock fuzz/Cargo.lock
    cargo fuzz build "${FUZZ_FLAGS[@]}" || fail "cargo fuzz build"
    FUZZ_TMP="$(mktemp -d)"
    for target in $(cargo fuzz list); do
        fuzz/seed-corpus.sh "$target" "$FUZZ_TMP/$target/seeds" "$ROOT/../shared/fixtures"
        mkdir -p "$FUZZ_TMP/$target/corpus"
        # The first corpus directory receives new inputs; -timeout turns a hang into a failure.
        if ! cargo fuzz run "${FUZZ_FLAGS[@]}" "$target" "$FUZZ_TMP/$target/corpus" \
            "$FUZZ_TMP/$target/seeds" -- -max_total_time="${TOLLGATE_FUZZ_SECONDS:-15}" \
            -timeout=10 -print_final_stats=1 2>"$FUZZ_TMP/$target.log"; then
            tail -n 80 "$FUZZ_TMP/$target.log" >&2
            rm -rf "$FUZZ_TMP"
            fail "fuzz target $target (the crashing input is in fuzz/artifacts/$target/)"
        fi
        grep -E '^#[0-9]+[[:space:]]+DONE' "$FUZZ_TMP/$target.log" | sed "s/^/$target: /" || true
    done
    rm -rf "$FUZZ_TMP"
fi

section "Python environment (tests/e2e/.venv)"
VENV="$ROOT/tests/e2e/.venv"
REQUIREMENTS="$ROOT/tests/e2e/requirements.txt"
STAMP="$VENV/.requirements.sha256"
want="$(sha256sum "$REQUIREMENTS" | cut -d' ' -f1)"
if ! "$VENV/bin/python" -c '' >/dev/null 2>&1; then
    rm -f "$STAMP"
    python3 -m venv --clear "$VENV" || fail "python3 -m venv (install python3-venv)"
fi
if [[ "$(cat "$STAMP" 2>/dev/null || true)" != "$want" ]]; then
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check -r "$REQUIREMENTS" \
        || fail "pip install -r tests/e2e/requirements.txt"
    echo "$want" >"$STAMP"
    echo "installed: $(tr '\n' ' ' <"$REQUIREMENTS")"
else
    echo "up to date: $(tr '\n' ' ' <"$REQUIREMENTS")"
fi

section "Coding agents for the end-to-end tests (tests/e2e/agents, npm)"
# Real agent clients (Codex) run against the gateway in tests/e2e/test_agents.py. Installed from
# the npm registry at the versions pinned in package-lock.json, again only when it changes.
AGENTS="$ROOT/tests/e2e/agents"
command -v npm >/dev/null 2>&1 || fail "npm not found (the agent tests need Node.js and npm)"
AGENTS_STAMP="$AGENTS/node_modules/.lock.sha256"
want="$(sha256sum "$AGENTS/package-lock.json" | cut -d' ' -f1)"
if [[ "$(cat "$AGENTS_STAMP" 2>/dev/null || true)" != "$want" ]]; then
    (cd "$AGENTS" && npm ci --no-audit --no-fund --loglevel=error) || fail "npm ci in tests/e2e/agents"
    echo "$want" >"$AGENTS_STAMP"
else
    echo "up to date: $(cd "$AGENTS" && node -p 'Object.entries(require("./package.json").dependencies).map(e => e.join("@")).join(" ")')"
fi
export TOLLGATE_CODEX_BIN="${TOLLGATE_CODEX_BIN:-$AGENTS/node_modules/.bin/codex}"

# The binaries just built, wherever cargo puts its target dir.
TARGET_DIR="$(cargo metadata --format-version 1 --no-deps \
    | "$VENV/bin/python" -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')"
export TOLLGATE_BIN="${TOLLGATE_BIN:-$TARGET_DIR/debug/tollgate}"
export TOLLGATE_MOCK_BIN="${TOLLGATE_MOCK_BIN:-$TARGET_DIR/debug/tollgate-mock}"

section "End-to-end tests (openai SDK -> tollgate -> tollgate-mock)"
printf '    (total so far: %ds)\n' $((SECONDS - STARTED))
rc=0
"$VENV/bin/python" -m pytest -q tests/e2e || rc=$?
if [[ $rc -eq 5 ]]; then
    fail "pytest collected no tests"
elif [[ $rc -ne 0 ]]; then
    exit "$rc"
fi
