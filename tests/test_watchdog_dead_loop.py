"""A dead event loop resets the unit (issue 13, finding 1): before, the radio could die while
the watchdog was still fed, and the lock stayed unreachable until its battery was pulled.

On the virtual board the firmware process is frozen (the CPU stuck in one place); the chip's
watchdog, a hardware timer in the simulation as on the ESP32, must reset it within the board's
wdt_ms, and the lock must come back: connectable, its visit record intact. A firmware that
never started its watchdog, or fed it from a timer IRQ rather than from its event loop, fails
here. (A task of the loop that ended while the loop runs on: tests/fw/test_watchdog.py.)
"""

from __future__ import annotations

import asyncio
import time

import pytest

from fleet_helpers import issue
from log_helpers import console_log
from hemlas.client import LockClient
from hemlas.codes import LockState
from hemlas.firmware import wire

pytestmark = pytest.mark.virtual_board

WDT_RESET = 3  # machine.WDT_RESET on the esp32 port (ports/esp32/modmachine.c)


def test_a_frozen_firmware_is_reset_by_the_watchdog_and_is_reachable_again(radio, boot_board, fleet):
    vb = boot_board(radio=radio, bolt=1.0)
    vb.provision(fleet)
    key = issue(fleet, vb.lock_id, wire.ROLE_STAFF)

    async def unlock():
        async with LockClient(vb.lock_id, key=key) as lock:
            return await lock.unlock()

    assert asyncio.run(unlock()).state == LockState.UNLOCKED
    visits_before = [r for r in console_log(vb) if r[2] == wire.EVENT_UNLOCKED]
    boots = vb.boots
    vb.hang()
    frozen_at = time.monotonic()
    wdt_s = vb.board["wdt_ms"] / 1000
    while vb.boots == boots:
        assert time.monotonic() - frozen_at < wdt_s + 10, "the watchdog never reset the frozen unit"
        time.sleep(0.1)
    assert time.monotonic() - frozen_at >= wdt_s * 0.7, "reset long before the watchdog's timeout"
    vb.wait_ready()
    assert vb.reset_cause == WDT_RESET

    vb.set_bolt(1.0)
    assert asyncio.run(unlock()).state == LockState.UNLOCKED  # reachable over BLE again
    records = console_log(vb)
    assert [r for r in records if r[2] == wire.EVENT_UNLOCKED][:len(visits_before)] == visits_before
    boot = [r for r in records if r[2] == wire.EVENT_BOOT][-1]
    assert boot[3][0] == WDT_RESET  # the boot record says why
