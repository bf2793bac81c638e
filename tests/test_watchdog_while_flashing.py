"""The watchdog an ESP32's firmware started keeps counting while a tool holds the REPL, and
`hemlas flash` of a running unit at a real unit's 115200 baud still finishes.

References (MicroPython v1.28, /work/shared/micropython): docs/library/machine.WDT.rst, "Once it
is running the timeout cannot be changed and the WDT cannot be stopped either"; on the esp32
port machine.WDT is ESP-IDF's task watchdog (ports/esp32/machine_wdt.c: esp_task_wdt_add_user,
trigger_panic), which a Ctrl-C into the REPL or the soft reset (ports/esp32/main.c, soft_reset_exit
to soft_reset: nothing deletes the task-WDT user) leaves running, and which only a chip reset
(machine.reset() is esp_restart(), ports/esp32/modmachine.c) ends; a panic by it reads back as
machine.WDT_RESET (ESP_RST_TASK_WDT in mp_machine_reset_cause).
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from hemlas.flashing import flash

pytestmark = pytest.mark.virtual_board

MPREMOTE = str(Path(sys.executable).parent / "mpremote")
WDT_RESET = 3  # machine.WDT_RESET on the esp32 port (ports/esp32/modmachine.c)
BAUD = 115200  # a real unit's console (the flasher opens the port at this speed too)


def mpremote(vb, *args):
    result = subprocess.run([MPREMOTE, "connect", vb.serial_port, *args], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, f"mpremote {' '.join(args)}: {result.stdout}{result.stderr}"
    return result.stdout


def wait_for(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def test_the_firmware_s_watchdog_resets_a_unit_left_in_the_raw_repl(boot_board):
    """mpremote interrupts the firmware and soft-resets it into the raw REPL: the watchdog the
    firmware started outlives both, and resets the unit when nobody feeds it."""
    unit = boot_board(serial=True, power_policy=None)
    unit.wait_ready()
    boots = unit.boots
    assert mpremote(unit, "exec", "print('held')").strip() == "held"
    assert unit.at_repl and unit.boots == boots + 1  # the soft reset into the raw REPL
    wdt_s = unit.board["wdt_ms"] / 1000
    wait_for(lambda: unit.boots > boots + 1, wdt_s + 10, "the watchdog's reset")
    ready = unit.wait_ready()
    assert unit.reset_cause == WDT_RESET and ready["board"] == "virtual"


def test_a_running_unit_is_flashed_at_115200_baud_though_its_watchdog_runs(boot_board, fleet, capsys):
    """A real unit's serial line: ~35 KB of firmware at 11 520 bytes/s, several times the
    escaping of binary .mpy in mpremote's raw-REPL writes, takes longer than the 8 s watchdog
    the running firmware started. The flash must not be cut off by it."""
    unit = boot_board(serial=True, power_policy=None, serial_baud=BAUD)
    assert unit.wait_ready()["board"] == "virtual"  # the factory firmware runs: its watchdog too
    first = flash(unit.serial_port, "virtual", fleet, ble=False)
    assert first.provisioning == "new" and first.ready["provisioned"] is True
    assert first.seconds >= first.bytes * 10 / BAUD  # at least the line's time for the files (8N1)
    print(f"{first.bytes} bytes flashed at {BAUD} baud in {first.seconds:.1f} s")
    assert unit.reset_cause != WDT_RESET
    on_flash = {p.name for p in unit.flash_dir.iterdir()}
    assert set(first.files) <= on_flash
    assert unit.command("status")["lock_id"] == first.lock_id
