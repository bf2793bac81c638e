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
MPY_SRC=third_party/micropython  # MicroPython's release source, for the ESP32-like interpreter
ESP32LIKE=.hemlas/esp32like  # its build: hemlas.sim.build looks for $ESP32LIKE/micropython

quietly() {
    if ! "$@" >>"$LOG" 2>&1; then
        cat "$LOG" >&2
        echo "set-up failed: $*" >&2
        exit 1
    fi
}

compiles_32bit() {
    printf 'int main(void) { return 0; }\n' | gcc -m32 -x c - -o .hemlas/m32check >/dev/null 2>&1
}

# The ESP32-like interpreter (32-bit, single floats: docs/firmware.md), built once per source.
# CI runs as root: it gets gcc-multilib from Debian. Elsewhere without it the build is left out,
# and the tests that need it skip saying why (under CI=true they fail instead).
build_esp32like() {
    local want
    want=$(cat "$MPY_SRC"/*.tar.gz "$MPY_SRC"/*.patch "$MPY_SRC/build-esp32like.sh" | sha256sum | cut -d' ' -f1)
    if [ -x "$ESP32LIKE/micropython" ] && [ "$(cat "$ESP32LIKE/source.sha256" 2>/dev/null)" = "$want" ]; then
        return
    fi
    if ! command -v gcc >/dev/null || ! command -v make >/dev/null; then
        echo "set-up: the ESP32-like MicroPython is not built (needs gcc and make); its tests skip" >&2
        return
    fi
    if ! compiles_32bit && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gcc-multilib; } \
            >>"$LOG" 2>&1 || true  # no mirror reachable: reported just below
    fi
    if ! compiles_32bit; then
        echo "set-up: the ESP32-like MicroPython is not built (gcc cannot build 32-bit: as root," \
             "apt-get install gcc-multilib); its tests skip" >&2
        return
    fi
    rm -rf "$ESP32LIKE"
    quietly "$MPY_SRC/build-esp32like.sh" "$ESP32LIKE"
    echo "$want" >"$ESP32LIKE/source.sha256"
}

# The pages' browser tests drive Debian's Chromium (tests/web_browser.py). CI runs as root: it
# gets it from Debian. Elsewhere without it those tests skip saying why (under CI=true they fail).
install_chromium() {
    [ -x /usr/bin/chromium ] && return
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; } \
            >>"$LOG" 2>&1 || true  # no mirror reachable: reported just below
    fi
    [ -x /usr/bin/chromium ] || echo "set-up: no Chromium (as root: apt-get install chromium);" \
                                     "the browser tests skip" >&2
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
    for chip_stubs in "esp32:micropython-esp32-esp32-generic-stubs==1.28.*" "esp32c3:micropython-esp32-esp32-generic-c3-stubs==1.28.*"; do
        [ -d ".hemlas/typings-${chip_stubs%%:*}" ] || quietly "$VENV/bin/python" -m pip install -q --target ".hemlas/typings-${chip_stubs%%:*}" "${chip_stubs#*:}"
    done
    build_esp32like
    install_chromium
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
