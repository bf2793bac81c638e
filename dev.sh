#!/usr/bin/env bash
# Set-up and entry points for a fresh machine with Python 3.11:
#   ./dev.sh demo   a virtual lock: unlock, battery reading, the button self-test
#   ./dev.sh test   every test
# Both create .venv and install the project and its tools on first use.
set -euo pipefail
cd "$(dirname "$0")"

PYTHON=${PYTHON:-python3.11}
VENV=.venv
TYPINGS=.hemlas/typings  # ESP32 stubs for pyright, kept apart from the venv's site-packages

LOG=.hemlas/setup.log  # pip's chatter goes here; shown only if set-up fails

quietly() {
    if ! "$@" >>"$LOG" 2>&1; then
        cat "$LOG" >&2
        echo "set-up failed: $*" >&2
        exit 1
    fi
}

setup() {
    mkdir -p .hemlas
    : >"$LOG"
    if [ ! -x "$VENV/bin/python" ]; then
        quietly "$PYTHON" -m venv "$VENV"
    fi
    quietly "$VENV/bin/python" -m pip install -q --upgrade pip
    quietly "$VENV/bin/python" -m pip install -q -e '.[test]'
    if [ ! -d "$TYPINGS" ]; then
        quietly "$VENV/bin/python" -m pip install -q --target "$TYPINGS" 'micropython-esp32-stubs>=1.29'
    fi
}

case "${1:-}" in
    demo)
        setup
        exec "$VENV/bin/hemlas" demo "${@:2}"
        ;;
    test)
        setup
        exec "$VENV/bin/python" -m pytest "${@:2}"
        ;;
    *)
        echo "usage: ./dev.sh demo|test [args]" >&2
        exit 2
        ;;
esac
