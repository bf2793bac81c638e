"""The virtual board on each MicroPython (tests/interpreters.py): its serial port behaves to
mpremote as a board's on both, so the bench suite and `hemlas flash` run on the ESP32-like build."""

import subprocess
import sys
from pathlib import Path

import pytest

from hemlas.sim import VirtualBoard
from interpreters import EACH, executable

pytestmark = pytest.mark.virtual_board

MPREMOTE = str(Path(sys.executable).parent / "mpremote")
SMALL_INT_MAX = {"mpy64": 2**63 - 1, "esp32like": 2**31 - 1}  # MP_SMALL_INT_MAX: 63 / 31 bits


@pytest.mark.parametrize("interpreter", EACH)
def test_mpremote_runs_code_on_a_running_unit(interpreter, tmp_path):
    """mpremote interrupts the firmware, enters the raw REPL and soft-resets (the board restarts
    the interpreter into the raw REPL) before it runs the code: on the interpreter asked for."""
    with VirtualBoard(serial=True, flash_dir=tmp_path, interpreter=executable(interpreter)) as vb:
        result = subprocess.run([MPREMOTE, "connect", vb.serial_port, "exec", "import sys; print(sys.maxsize)"],
                                capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.split() == [str(SMALL_INT_MAX[interpreter])]
