"""The checks a lock unit passes on the bench before it goes to a customer's door.

The same assertions run against a real unit and the virtual board: timings come from the
firmware's own hardware trace read over serial, everything else over BLE and the console.
"""

from __future__ import annotations

import asyncio
import dataclasses
import struct
import time

import pytest
from bleak import BleakClient

from hemlas.boards import load_board
from hemlas.client import LockClient, find_lock, hello_frame
from hemlas.codes import LockState, Status
from hemlas.errors import AuthError, LockNotFoundError
from hemlas.firmware import wire
from hemlas.radio import config

GREEN, RED, BUTTON, MOTOR = 1, 2, 3, 4  # firmware/hwtrace.py


async def _device(lock):
    # By its advertising key, from the bench's fleet store: a provisioned unit advertises a
    # rotating id from a private address that changes, so nothing fixed finds it.
    adv_keys = [key for key, lock_id in lock.fleet.advertising_keys().items() if lock_id == lock.lock_id]
    return await find_lock(lock.lock_id, adv_keys=adv_keys)


def _client(lock, key) -> LockClient:
    return LockClient(lock.lock_id, key=key)


def test_flashed_and_provisioned(lock, figure):
    """Flashed, verified and provisioned over serial"""
    report = lock.flash_report
    assert report.provisioning in ("new", "kept", "reprovisioned")
    assert report.files and report.files[-1] == "main.py"
    status = lock.console("status")
    assert status["lock_id"] == lock.lock_id and status["provisioned"] is True
    assert lock.fleet.lock(lock.lock_id).board == lock.board  # provisioned into the fleet store
    figure("files", len(report.files))
    figure("bytes", report.bytes)
    figure("flash and provision (s)", round(lock.flash_seconds, 1))
    figure("confirmed over", report.confirmed["by"])  # "ble", or "serial" on a host without a radio


def test_boots_and_advertises(lock, figure):
    """Boots after a reset and advertises, privately (found by its advertising key)"""
    ready = lock.reset()
    assert ready["lock_id"] == lock.lock_id
    start = time.monotonic()
    device = asyncio.run(_device(lock))
    assert device is not None
    figure("found after (s)", round(time.monotonic() - start, 2))


def _ticks_diff(end: int, start: int, period: int = 2**30) -> int:
    """time.ticks_diff (extmod/modtime.c) for the trace's ticks_ms values: a unit's ticks wrap
    at 2**30 ms (12.4 days awake), maybe between the press and the LEDs."""
    return (end - start + period // 2) % period - period // 2


def _trace_since(lock, seq: int) -> list[tuple[int, int, int, int]]:
    events, answer = [], lock.console(f"trace {seq}")
    while answer["events"]:
        events += [tuple(e) for e in answer["events"]]
        answer = lock.console(f"trace {events[-1][0] + 1}")
    return events


@pytest.mark.human
def test_selftest_follows_the_routine(lock, figure):
    """Button self-test: green at once, off within 10 s, red blinks once (battery OK) within 20 s"""
    first = lock.console("trace")["next"]
    lock.press_button()
    time.sleep(8)  # the sequence takes ~4.5 s; the routine allows 20
    events = _trace_since(lock, first)
    press = next(t for _s, t, kind, value in events if kind == BUTTON)
    green = [_ticks_diff(t, press) / 1000 for _s, t, kind, value in events if kind == GREEN]
    red_on = [_ticks_diff(t, press) / 1000 for _s, t, kind, value in events if kind == RED and value == 1]
    red_off = [_ticks_diff(t, press) / 1000 for _s, t, kind, value in events if kind == RED and value == 0]
    assert green and green[0] < 0.5, "green must light at once"
    assert len(green) == 2 and green[1] <= 10.0, "green must go out within 10 s"
    assert len(red_on) == 1, f"red must blink once for a good battery, blinked {len(red_on)}"
    assert red_off[-1] <= 20.0
    figure("green on after (s)", round(green[0], 3))
    figure("green off after (s)", round(green[1], 2))
    figure("red blinks", len(red_on))
    figure("red done after (s)", round(red_off[-1], 2))


def test_lock_and_unlock_five_times_each(lock, figure):
    """Locks 5 times and unlocks 5 times over BLE, each confirmed by end of travel"""
    key = lock.key(wire.ROLE_STAFF)
    times = []

    async def cycles():
        async with _client(lock, key) as client:
            for _ in range(5):
                for action in (client.lock, client.unlock):
                    start = time.monotonic()
                    result = await action()
                    times.append((result.state, result.travel_ms, time.monotonic() - start))

    asyncio.run(cycles())
    assert [s for s, _t, _w in times] == [LockState.LOCKED, LockState.UNLOCKED] * 5
    travel = [t for _s, t, _w in times]
    figure("travel ms (lock, unlock x5)", travel)
    figure("slowest request (s)", round(max(w for _s, _t, w in times), 2))


@pytest.mark.human
def test_battery_reading_matches_the_reference(lock, figure):
    """Battery reading within 3 % of the reference (a multimeter at the bench)"""
    key = lock.key(wire.ROLE_STAFF)

    async def read():
        async with _client(lock, key) as client:
            return await client.battery()

    reading = asyncio.run(read())
    reference = lock.battery_reference_mv()
    assert abs(reading.idle_mv - reference) <= 0.03 * reference, (reading.idle_mv, reference)
    figure("idle mV (lock)", reading.idle_mv)
    figure("reference mV", round(reference))
    figure("loaded mV", reading.loaded_mv)


@pytest.mark.human
def test_battery_swap_registration(lock, figure):
    """A new battery is checked under load and registered; the charge count starts again"""
    key = lock.key(wire.ROLE_TECHNICIAN)
    lock.swap_battery()
    lock.keep_awake()  # a new battery is a power-on: the unit left bench mode for its policy

    async def register():
        async with _client(lock, key) as client:
            registration = await client.register_battery_swap()
            return registration, await client.battery()

    registration, reading = asyncio.run(register())
    assert registration.loaded_mv > 0 and reading.used_mah == 0 and reading.last_swap == registration.swap_time
    figure("loaded mV at registration", registration.loaded_mv)


def test_rejects_a_key_for_another_lock(lock):
    """Refuses a key issued for another lock"""
    lock.store.add_lock("HL-OTHER1", lock.board, "test", bytes(32))  # the bench store's, not the fleet's
    key = lock.key(wire.ROLE_STAFF, lock_id="HL-OTHER1")
    stolen = dataclasses.replace(key, lock_id=lock.lock_id)  # presented to this lock

    async def attempt():
        # Found by this lock's advertising key (the other key's finds only its own lock).
        client = LockClient(lock.lock_id, key=stolen)
        await client.connect(await _device(lock))
        await client.disconnect()

    with pytest.raises(AuthError):
        asyncio.run(attempt())


def test_rejects_a_replayed_request(lock):
    """Refuses a recorded request sent again"""
    key = lock.key(wire.ROLE_STAFF)

    async def attack():
        device = await _device(lock)
        client = BleakClient(device, **config.client_kwargs())
        await client.connect()
        answers: asyncio.Queue[bytes] = asyncio.Queue()
        reassembler = wire.Reassembler(wire.MAX_RESPONSE)  # answers: up to MAX_RESPONSE

        def on_notify(_char, data):
            frame = reassembler.feed(bytes(data))
            if frame is not None:
                answers.put_nowait(bytes(frame))  # a view of the reassembler's buffer: copied

        await client.start_notify(wire.RESPONSE_CHAR_UUID, on_notify)

        async def send(frame):
            for part in wire.fragment(frame, client.mtu_size):
                await client.write_gatt_char(wire.CONTROL_CHAR_UUID, part, response=True)
            return await asyncio.wait_for(answers.get(), 20)

        nonce = b"\x02" * 16
        answer = await send(hello_frame(key, nonce))
        _op, session_id, _c, body, _t = wire.decode_frame(answer)
        _status, session_id, lock_nonce, _now = struct.unpack(wire.RESPONSE_FORMATS[wire.OP_HELLO], body)
        session_key = wire.derive_session_key(key.key, session_id, nonce, lock_nonce)
        cipher_key = wire.derive_cipher_key(session_key)
        request = wire.seal(session_key, cipher_key, wire.TAG_REQUEST, wire.OP_STATUS, session_id, 1, b"")
        first = await send(request)
        again = await send(request)
        await client.disconnect()
        # The first answer is the lock's, encrypted; the replay's a refusal in the clear.
        assert wire.check_tag(session_key, wire.TAG_RESPONSE, first)
        first_body = wire.crypt(cipher_key, wire.TAG_RESPONSE, session_id, 1, wire.decode_frame(first)[3])
        assert wire.check_tag(session_key, wire.TAG_CLEAR, again)
        return first_body[0], wire.decode_frame(again)[3][0]

    first, again = asyncio.run(attack())
    assert first == Status.OK and again == Status.REPLAYED


def test_event_log_is_kept_across_a_reset(lock, figure):
    """The event log (the record of visits) survives a reset"""
    before = lock.console("log 0 16")["next_seq"]
    lock.reset()
    answer = lock.console("log 0 16")
    assert answer["next_seq"] > before  # everything kept, and the boot added to it
    assert answer["records"][0][0] == 1
    figure("events kept", before - 1)


# The budget the battery's life is reckoned on (docs/battery.md: the board's sleep_ua); a unit
# drawing more than half again as much will not last what the fleet expects of it.
SLEEP_BUDGET_MARGIN = 1.5
# From the knock to the confirmed unlock, as issue 14 sets it; docs/battery.md has the parts.
KNOCK_TO_UNLOCK_S = 2.5


@pytest.mark.human
def test_sleep_current_is_within_the_boards_budget(lock, figure):
    """Asleep, the unit draws at most 1.5 x its board's sleep current (a multimeter in series)"""
    budget_ua = load_board(lock.board)["power"]["sleep_ua"]
    lock.sleep(60_000)
    reading_ua = lock.sleep_current_ua()
    status = lock.wait_awake(90.0)  # the timer (or the button) wakes it
    assert status["lock_id"] == lock.lock_id
    figure("asleep (uA)", round(reading_ua, 1))
    figure("budget (uA)", budget_ua)
    assert reading_ua <= SLEEP_BUDGET_MARGIN * budget_ua, (
        f"{reading_ua:.1f} uA asleep against the board's {budget_ua} uA: something stays powered "
        "(an LED, the test load, a regulator's quiescent current); the battery's life is reckoned "
        "on the budget")


@pytest.mark.human
def test_a_knock_wakes_the_sleeping_unit_for_an_unlock(lock, figure):
    """Asleep, a knock on the door wakes the unit; it is found and unlocked within 2.5 s of the knock"""
    if not load_board(lock.board).get("accel"):
        pytest.skip(f"the {lock.board} board has no knock sensor")
    key = lock.key(wire.ROLE_STAFF)
    lock.sleep(120_000)  # its timer alone would wake it two minutes from now

    async def search(seconds):
        adv_keys = [k for k, lock_id in lock.fleet.advertising_keys().items() if lock_id == lock.lock_id]
        return await find_lock(lock.lock_id, timeout=seconds, adv_keys=adv_keys)

    with pytest.raises(LockNotFoundError):  # asleep: nothing to find
        asyncio.run(search(2.0))
    knocked = lock.knock()

    async def unlock():
        async with LockClient(lock.lock_id, key=key, scan_timeout=10) as client:
            found = time.monotonic()
            return found, await client.unlock()

    found, result = asyncio.run(unlock())
    done = time.monotonic()
    assert result.state == LockState.UNLOCKED
    figure("knock to connected (s)", round(found - knocked, 2))
    figure("knock to confirmed unlock (s)", round(done - knocked, 2))
    assert done - knocked <= KNOCK_TO_UNLOCK_S, f"{done - knocked:.1f} s from the knock to the unlock"
