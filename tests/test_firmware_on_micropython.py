"""The firmware logic tests of tests/fw, run unchanged on each MicroPython unix port.

Under CPython pytest runs them directly (with tests/micropython_shim.py); here each module is
run by tests/fw/mpy_runner.py inside the real `micropython`, with the ESP32-sized heap, on the
64-bit port from PyPI (mpy64) and on the 32-bit single-float build (esp32like: tests/interpreters.py).
"""

import subprocess
from pathlib import Path

import pytest

from hemlas.errors import VirtualBoardError
from hemlas.sim import build
from interpreters import EACH, executable

ROOT = Path(__file__).resolve().parents[1]
FW_TESTS = ROOT / "tests" / "fw"
MODULES = sorted(p.stem for p in FW_TESTS.glob("test_*.py"))


@pytest.mark.parametrize("module", MODULES)
@pytest.mark.parametrize("interpreter", EACH)
def test_module_passes_on_micropython(interpreter, module, tmp_path):
    path = f"{ROOT / 'firmware'}:{FW_TESTS}:.frozen"
    result = subprocess.run(
        [executable(interpreter), "-X", "heapsize=96K", str(FW_TESTS / "mpy_runner.py"), module],
        cwd=tmp_path, env={"MICROPYPATH": path}, capture_output=True, text=True, timeout=120,
    )
    lines = result.stdout.splitlines()
    passed = [line for line in lines if line.startswith("PASS ")]
    assert result.returncode == 0, result.stdout + result.stderr
    assert passed, "no test ran:\n" + result.stdout + result.stderr


# What each interpreter must be, from MicroPython's docs and source, not from the binaries:
# a 64-bit port's small ints are 63-bit (MP_SMALL_INT_MAX) and its ticks period
# MICROPY_PY_TIME_TICKS_PERIOD is 2**62 ("ticks_add(0, -1)" is the period minus one, docs:
# library/time.rst); on a 32-bit build, as on an ESP32, they are 31-bit and 2**30; a single-
# precision float (IEEE 754 binary32, 24-bit significand) cannot hold 2**24 + 1.
_PROPERTIES = "import sys, time; print(sys.maxsize, time.ticks_add(0, -1) + 1, float(2**24 + 1) == 2**24)"
_EXPECTED = {
    "mpy64": f"{2**63 - 1} {2**62} False",
    "esp32like": f"{2**31 - 1} {2**30} True",
}


@pytest.mark.parametrize("interpreter", EACH)
def test_interpreter_is_what_its_name_says(interpreter):
    result = subprocess.run([executable(interpreter), "-c", _PROPERTIES],
                            capture_output=True, text=True, timeout=30)
    assert result.stdout.split() == _EXPECTED[interpreter].split(), result.stderr


def test_environment_picks_the_interpreter(monkeypatch):
    esp32like = executable("esp32like")
    monkeypatch.setenv(build.INTERPRETER_ENV, "esp32like")
    assert build.micropython_executable() == esp32like
    mpy64 = build.micropython_executable("mpy64")
    monkeypatch.setenv(build.INTERPRETER_ENV, mpy64)  # a path names a binary
    assert build.micropython_executable() == mpy64
    monkeypatch.delenv(build.INTERPRETER_ENV)
    # The default: the ESP32-like build where set-up built it (it is, here: executable() above).
    assert build.micropython_executable() == esp32like
    monkeypatch.setattr(build, "ESP32LIKE_BINARY", build.ESP32LIKE_BINARY.with_name("not-built"))
    assert build.micropython_executable() == mpy64  # and the 64-bit port where it is not


@pytest.mark.parametrize("value", ["esp32", "/nonexistent/micropython"])
def test_a_wrong_interpreter_is_a_clear_error(monkeypatch, value):
    monkeypatch.setenv(build.INTERPRETER_ENV, value)
    with pytest.raises(VirtualBoardError, match=f"HEMLAS_MICROPYTHON={value}: .*"):
        build.micropython_executable()
