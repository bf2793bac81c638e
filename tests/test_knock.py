"""Knock to wake (issue 14): the production lock sleeps 57 s between 0.2 s windows, so a carer
at the door knocks; the knock sensor's interrupt wakes the chip at once, and the lock stays
advertising for the carer's phone (docs/knock.md). On the virtual board the LIS2DW12 is
simulated at register level from its datasheet (host/hemlas/sim/lis2dw12.py), the knock is the
door model's (host/hemlas/sim/door.py), and the firmware's driver is firmware/knock.py.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from fleet_helpers import issue
from log_helpers import console_log
from hemlas.client import LockClient
from hemlas.codes import LockState
from hemlas.errors import LockNotFoundError
from hemlas.firmware import wire

pytestmark = pytest.mark.virtual_board

GPIO_WAKE = 7  # machine.wake_reason() after a deep-sleep GPIO wake on the C3


def _asleep(vb, timeout=15.0):
    deadline = time.monotonic() + timeout
    while not vb.pins.asleep:
        assert time.monotonic() < deadline, "the lock never went to sleep"
        time.sleep(0.02)


@pytest.fixture
def sleeping_lock(radio, boot_board, fleet):
    vb = boot_board("esp32c3", radio=radio, bolt=1.0, battery="fresh")  # the board's own policy
    vb.provision(fleet)
    vb.key = issue(fleet, vb.lock_id, wire.ROLE_STAFF)
    _asleep(vb)
    return vb


def test_a_knock_wakes_a_sleeping_lock_and_an_unlock_follows(sleeping_lock):
    vb = sleeping_lock
    wakes = vb.wakes
    vb.knock()  # the carer at the door; the lock's next timer wake is ~57 s away

    async def unlock():
        # 10 s to find it: the timer would wake the lock only after 57 s, so only the knock can.
        async with LockClient(vb.lock_id, key=vb.key, scan_timeout=10) as lock:
            return await lock.unlock()

    assert asyncio.run(unlock()).state == LockState.UNLOCKED
    # What machine.wake_reason() answers the firmware: a deep-sleep GPIO wake, not the timer.
    assert vb.wakes > wakes and vb.pins.handle(["wake_reason"], time.monotonic()) == str(GPIO_WAKE)
    assert not [r for r in console_log(vb) if r[2] == wire.EVENT_SELFTEST], "a knock is not a button press"


def test_without_a_knock_the_sleeping_lock_is_not_found_within_its_sleep(sleeping_lock):
    """The reverse: the same search, no knock, ends without the lock (its fallback window is
    57 s away), so the first test's unlock was the knock's doing."""
    vb = sleeping_lock

    async def search():
        async with LockClient(vb.lock_id, key=vb.key, scan_timeout=5):
            pass

    with pytest.raises(LockNotFoundError):
        asyncio.run(search())


def test_a_knock_keeps_the_lock_awake_for_its_knock_window(sleeping_lock):
    """After a knock the lock advertises knock_awake_ms (4 s), not the 0.2 s fallback window."""
    vb = sleeping_lock
    vb.knock()
    deadline = time.monotonic() + 5
    while vb.pins.asleep:
        assert time.monotonic() < deadline, "the knock did not wake the lock"
        time.sleep(0.02)
    woke = time.monotonic()
    _asleep(vb, timeout=15)
    awake_s = time.monotonic() - woke
    window_s = vb.board["power"]["policy"]["knock_awake_ms"] / 1000
    assert awake_s >= window_s, f"asleep again after {awake_s:.1f} s: the knock window is {window_s} s"
