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


def run_field_scenario(vb, key) -> None:
    """The full scenario as a lock in the field lives it, over BLE alone: nobody types on its
    serial port (a provisioned lock has no serial host), so its console is never woken.

    key: a technician's StaffKey for vb (the self-test needs the role). A session opens, and
    through it lock/unlock twice, battery, the self-test, the event log, a jam and its
    recovery, with a button press's self-test between; raise AssertionError if any answer is
    wrong."""
    import asyncio

    from ..client import LockClient
    from ..errors import LockBusyError, LockJammedError
    from ..handle_cache import HandleCache

    async def go() -> None:
        async with LockClient(vb.lock_id, key=key, handle_cache=HandleCache(in_memory=True)) as lock:
            for move, state in ((lock.lock, wire.LOCK_LOCKED), (lock.unlock, wire.LOCK_UNLOCKED)) * 2:
                assert (await move()).state == state
            assert (await lock.battery()).state == wire.BATTERY_OK
            assert (await lock.selftest()).blinks == 1
            press = vb.press_button()
            try:
                await lock.selftest()  # a request's self-test queued behind the button's one is busy
            except LockBusyError:
                pass
            deadline = press + 20
            while time.monotonic() < deadline and not any(
                led == "red" and not on for _, led, on in vb.led_timeline(press)
            ):
                await asyncio.sleep(0.05)
            vb.jam(0.5)
            try:
                await lock.lock()
                raise AssertionError("a jammed bolt reported locked")
            except LockJammedError:
                pass
            vb.clear_jam()
            assert (await lock.lock()).state == wire.LOCK_LOCKED
            records = await lock.read_log()
            assert len(records) >= 8 and records[0].seq == 1, records
            assert (await lock.status()).state == wire.LOCK_LOCKED

    asyncio.run(go())
