#!/usr/bin/env bash
# Runs every check and test of the repository; exits non-zero if any fails.
#
#   ./scripts/test.sh
#
# 1. cargo fmt --check          4. Rust tests (cargo nextest if installed, else cargo test) + doc tests
# 2. cargo clippy -D warnings   5. end-to-end tests: the official `openai` Python SDK against the
# 3. cargo build (once)            real `tollgate` binary in front of the real `tollgate-mock`
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

section "Rust tests"
if cargo nextest --version >/dev/null 2>&1; then
    cargo nextest run --workspace || fail "Rust tests (nextest)"
    section "Rust doc tests"
    cargo test --workspace --doc || fail "doc tests"
else
    echo "(cargo-nextest not installed: using cargo test, which runs the doc tests too)"
    cargo test --workspace || fail "Rust tests (cargo test)"
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
