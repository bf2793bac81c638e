"""BLE end to end through the real stack: LockClient/CLI -> bleak -> the Bumble backend ->
the virtual radio -> the simulated bluetooth module -> the firmware on the MicroPython unix port.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time

import pytest

from hemlas.client import LockClient, scan
from hemlas.codes import BatteryState, LockState
from hemlas.errors import BatteryCriticalError, LockDisconnectedError, LockNotFoundError
from hemlas.firmware import wire

from fleet_helpers import issue

pytestmark = pytest.mark.virtual_board


@pytest.fixture
def locks(radio, boot_board, fleet):
    """Factory: boot virtual locks on the shared radio, provision them over the console and
    put a technician key for each in the key file."""

    def make(board="virtual", **kwargs):
        vb = boot_board(board, radio=radio, **kwargs)
        vb.provision(fleet)
        issue(fleet, vb.lock_id, wire.ROLE_TECHNICIAN)
        return vb

    return make


def _until(predicate, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def test_scan_finds_each_of_three_locks(locks):
    boards = [locks() for _ in range(3)]
    found = asyncio.run(scan(2.0))
    by_id = {lock.lock_id: lock for lock in found}
    for vb in boards:
        assert vb.lock_id in by_id
        assert by_id[vb.lock_id].address == vb.ble.current_address  # its private address now
    assert len({vb.address for vb in boards}) == 3


def test_unlock_and_lock_move_the_bolt(locks):
    vb = locks(bolt=1.0)

    async def go():
        async with LockClient(vb.lock_id) as lock:
            assert (await lock.status()).state == LockState.LOCKED
            unlocked = await lock.unlock()
            assert unlocked.state == LockState.UNLOCKED and unlocked.travel_ms > 300
            assert vb.bolt_position <= 0.01
            locked = await lock.lock()
            assert locked.state == LockState.LOCKED
            assert vb.bolt_position >= 0.99
            assert lock.mtu == 247

    asyncio.run(go())


@pytest.mark.parametrize("battery,state", [("fresh", BatteryState.OK), ("low", BatteryState.LOW)])
def test_battery_reading_matches_the_injected_cell(locks, battery, state):
    vb = locks(battery=battery)
    supply = vb.battery_mv()
    reading = asyncio.run(_battery(vb.lock_id))
    assert reading.state == state
    assert abs(reading.idle_mv - supply) < 30, (reading, supply)
    cfg = vb.board["battery"]
    if state == BatteryState.LOW:
        assert cfg["critical_mv"] <= reading.loaded_mv < cfg["low_mv"]
    assert reading.loaded_mv < reading.idle_mv
    assert reading.percent is not None and 0 <= reading.percent <= 100


async def _battery(lock_id):
    async with LockClient(lock_id) as lock:
        return await lock.battery()


def test_selftest_over_ble(locks):
    vb = locks()
    start = time.monotonic()

    async def go():
        async with LockClient(vb.lock_id, role=wire.ROLE_TECHNICIAN) as lock:
            return await lock.selftest()

    result = asyncio.run(go())
    assert result.blinks == 1 and result.battery == BatteryState.OK
    reds = [t for t, led, on in vb.led_timeline(start) if led == "red" and on]
    assert len(reds) == 1 and reds[0] < 20


def test_default_mtu_of_23_splits_and_reassembles(locks):
    vb = locks()

    async def go():
        async with LockClient(vb.lock_id, mtu=None, role=wire.ROLE_TECHNICIAN) as lock:
            assert lock.mtu == 23
            await lock.lock()
            await lock.unlock()
            return await lock.read_log()  # responses of hundreds of bytes, in 19-byte pieces

    records = asyncio.run(go())
    assert [r.type for r in records if r.type in (wire.EVENT_LOCKED, wire.EVENT_UNLOCKED)][-2:] == \
        [wire.EVENT_LOCKED, wire.EVENT_UNLOCKED]
    assert [r.seq for r in records] == list(range(1, len(records) + 1))


def test_critical_battery_is_a_typed_error_and_moves_nothing(locks):
    vb = locks(battery="discharged", bolt=1.0)

    async def go():
        async with LockClient(vb.lock_id) as lock:
            await lock.unlock()

    with pytest.raises(BatteryCriticalError):
        asyncio.run(go())
    assert vb.bolt_position >= 0.99


def test_client_killed_mid_unlock(locks):
    """The lock finishes the move it started, advertises again, and serves the next client."""
    vb = locks(bolt=1.0)
    proc = subprocess.Popen([sys.executable, "-m", "hemlas.cli", "unlock", vb.lock_id],
                            env=dict(os.environ), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert _until(lambda: vb.command("status")["state"] == LockState.UNLOCKING, timeout=20)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert _until(lambda: vb.command("status")["state"] == LockState.UNLOCKED, timeout=3)
    assert vb.bolt_position <= 0.01

    async def again():
        start = time.monotonic()
        found = await scan(1.5)
        assert vb.lock_id in {lock.lock_id for lock in found}, "advertising again within a second"
        async with LockClient(vb.lock_id) as lock:
            return await lock.status(), time.monotonic() - start

    status, _ = asyncio.run(again())
    assert status.state == LockState.UNLOCKED


def test_lock_losing_power_mid_command_is_a_typed_error_then_a_retry_works(locks):
    vb = locks(bolt=1.0)

    async def go():
        async with LockClient(vb.lock_id) as lock:
            task = asyncio.ensure_future(lock.unlock())
            await asyncio.sleep(0.3)  # the motor is running
            vb.power_cut()
            with pytest.raises(LockDisconnectedError):
                await task
        position = vb.bolt_position
        assert 0.0 < position < 1.0, "cut mid-travel"
        vb.power_on()
        async with LockClient(vb.lock_id) as lock:
            assert (await lock.status()).state == LockState.UNKNOWN  # read from the sensors
            assert (await lock.unlock()).state == LockState.UNLOCKED

    asyncio.run(go())
    assert vb.bolt_position <= 0.01


def test_a_vanished_lock_is_not_found(locks):
    vb = locks()
    vb.power_cut()

    async def go():
        async with LockClient(vb.lock_id, scan_timeout=1.5):
            pass

    with pytest.raises(LockNotFoundError):
        asyncio.run(go())


def test_two_clients_in_turn(locks):
    vb = locks()

    async def client(action):
        async with LockClient(vb.lock_id) as lock:
            return await action(lock)

    assert asyncio.run(client(lambda lock: lock.lock())).state == LockState.LOCKED
    assert asyncio.run(client(lambda lock: lock.status())).state == LockState.LOCKED
    assert asyncio.run(client(lambda lock: lock.unlock())).state == LockState.UNLOCKED


def test_cli_unlock_of_a_discharged_lock_gives_the_routine(locks):
    vb = locks(battery="discharged", bolt=1.0)
    result = subprocess.run([sys.executable, "-m", "hemlas.cli", "unlock", vb.lock_id],
                            capture_output=True, text=True, timeout=60, env=dict(os.environ))
    assert result.returncode == 1
    assert "Do NOT swap the battery yourself" in result.stderr
    assert "self-test" in result.stderr and "service desk" in result.stderr


def test_cli_scan_status_battery_log(locks):
    vb = locks()
    env = dict(os.environ)

    def hemlas(*args):
        result = subprocess.run([sys.executable, "-m", "hemlas.cli", *args, "--json"],
                                capture_output=True, text=True, timeout=60, env=env)
        assert result.returncode == 0, result.stderr
        import json
        return json.loads(result.stdout)

    assert vb.lock_id in {row["lock_id"] for row in hemlas("scan", "--timeout", "1.5")}
    assert hemlas("status", vb.lock_id)["state"] == "unlocked"
    assert hemlas("battery", vb.lock_id)["state"] == "ok"
    assert wire.EVENT_BOOT in [row["type_code"] for row in hemlas("log", vb.lock_id)["events"]]


def test_cli_lock_not_found_is_a_clear_error(locks):
    vb = locks()
    vb.power_cut()  # we hold a key for it, but it does not answer
    result = subprocess.run([sys.executable, "-m", "hemlas.cli", "status", vb.lock_id],
                            capture_output=True, text=True, timeout=60, env=dict(os.environ))
    assert result.returncode == 1 and "not found" in result.stderr


def test_cli_without_a_key_is_a_clear_error(locks):
    vb = locks()
    result = subprocess.run([sys.executable, "-m", "hemlas.cli", "status", vb.lock_id],
                            capture_output=True, text=True, timeout=60,
                            env=dict(os.environ, HEMLAS_KEYS=os.devnull + ".none"))
    assert result.returncode == 1 and f"no key file at {os.devnull}.none" in result.stderr


def test_battery_and_device_information_are_readable_only_inside_a_session(locks):
    """Version 2 had the standard Battery and Device Information services: anyone who
    connected read the level and the lock id (Serial Number). Now all that a connection
    without a session reads is the GAP name, the stack's default, the same on every MicroPython
    ESP32; the level and the device information come in a session, encrypted."""
    from bleak import BleakClient

    from hemlas.client import find_lock
    from hemlas.radio import config

    vb = locks(board="esp32c3")

    async def go():
        async with LockClient(vb.lock_id) as lock:
            reading = await lock.battery()
            info = await lock.device_info()
        device = await find_lock(vb.lock_id)
        async with BleakClient(device, **config.client_kwargs()) as client:
            services = {str(service.uuid) for service in client.services}
            readable = {}
            for service in client.services:
                for char in service.characteristics:
                    if "read" in char.properties:
                        readable[str(char.uuid)] = bytes(await client.read_gatt_char(char))
        return reading, info, services, readable

    reading, info, services, readable = asyncio.run(go())
    assert not {s for s in services if s.startswith(("0000180f", "0000180a"))}  # Battery, Device Information
    # The GAP and GATT services' own characteristics alone: Device Name, Appearance, Client
    # Supported Features, Database Hash (the same on every lock).
    assert {u[4:8] for u in readable} <= {"2a00", "2a01", "2b29", "2b2a"}
    assert readable["00002a00-0000-1000-8000-00805f9b34fb"] == b"MPY ESP32"
    assert all(vb.lock_id.encode() not in value for value in readable.values())
    assert 0 <= reading.percent <= 100
    assert info == {"model": vb.board["model"], "firmware": vb.wait_ready()["firmware"], "board": "esp32c3"}


def test_jam_is_a_typed_error(locks):
    from hemlas.errors import LockJammedError

    vb = locks()
    vb.jam(0.5)

    async def go():
        async with LockClient(vb.lock_id) as lock:
            await lock.lock()

    with pytest.raises(LockJammedError):
        asyncio.run(go())
    assert vb.command("status")["state"] == LockState.JAMMED


def test_a_hung_lock_is_a_timeout(locks):
    from hemlas.errors import LockTimeoutError

    vb = locks()

    async def go():
        async with LockClient(vb.lock_id, request_timeout=1.5) as lock:
            os.kill(vb._proc.pid, signal.SIGSTOP)  # the radio stays up; the firmware stops
            try:
                await lock.status()
            finally:
                os.kill(vb._proc.pid, signal.SIGCONT)

    with pytest.raises(LockTimeoutError):
        asyncio.run(go())
