"""The firmware fits an ESP32: the full scenario passes with a 96 KiB GC heap."""

import pytest

from hemlas.sim.scenario import run_full_scenario

pytestmark = pytest.mark.virtual_board


def test_full_scenario_in_an_esp32_sized_heap(boot_board):
    vb = boot_board(heap_kb=96)
    run_full_scenario(vb)
    assert vb.running and vb.crashed is None


def test_too_small_a_heap_fails_loudly(tmp_path):
    """The heap limit is real: at 24 KiB the firmware cannot even boot."""
    from hemlas.sim import VirtualBoard, VirtualBoardError

    vb = VirtualBoard(flash_dir=tmp_path, heap_kb=24)
    try:
        with pytest.raises(VirtualBoardError) as err:
            vb.start()
    finally:
        vb.close()
    assert "MemoryError" in err.value.output
    assert "MemoryError" in str(err.value)  # the user sees why
