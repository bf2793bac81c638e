"""The full test scenario on a virtual board, shared by the heap test and the benchmark."""

from __future__ import annotations

import time

from ..firmware import wire


def run_full_scenario(vb) -> None:
    """Drive every firmware feature once; raise AssertionError if any answer is wrong."""
    for target, state in (("lock", wire.LOCK_LOCKED), ("unlock", wire.LOCK_UNLOCKED)) * 2:
        answer = vb.command(target)
        assert answer["result"] == wire.STATUS_OK and answer["state"] == state, answer
    assert vb.command("battery")["battery"] == wire.BATTERY_OK
    press = vb.press_button()
    result = vb.command("selftest")  # a console self-test queued behind the button's one is busy
    assert result.get("result") == wire.STATUS_BUSY or result.get("blinks") == 1, result
    deadline = press + 20
    while time.monotonic() < deadline and not any(
        led == "red" and not on for _, led, on in vb.led_timeline(press)
    ):
        time.sleep(0.05)
    vb.jam(0.5)
    assert vb.command("lock")["result"] == wire.STATUS_JAMMED
    vb.clear_jam()
    assert vb.command("lock")["state"] == wire.LOCK_LOCKED
    records = vb.command("log 0")["records"]
    assert len(records) >= 8 and records[0][0] == 1, records
    status = vb.command("status")
    assert status["state"] == wire.LOCK_LOCKED, status
