"""Issue 5 on the virtual board: the power policy's sleep and wake, the charge the firmware
counts against what the battery model delivered, and battery-swap registration over BLE."""

from __future__ import annotations

import asyncio
import time

import pytest

from fleet_helpers import issue
from hemlas.client import LockClient
from hemlas.codes import BatteryState, LockState, Status
from hemlas.errors import BatteryDepletedError
from hemlas.firmware import wire

pytestmark = pytest.mark.virtual_board

POLICY = {"awake_ms": 400, "sleep_ms": 1500}  # short, so a test sees several cycles


def _wait(predicate, timeout=10.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.01)


def test_the_lock_sleeps_between_windows_and_wakes_on_its_timer(boot_board):
    vb = boot_board(power_policy=POLICY)
    _wait(lambda: vb.asleep, 5)
    slept_at = time.monotonic()
    _wait(lambda: vb.wakes >= 1, 5)
    asleep_for = time.monotonic() - slept_at
    assert 1.4 <= asleep_for <= 3.0  # the sleep, plus the chip's start-up
    vb.wait_awake()
    assert vb.reset_cause == 4  # DEEPSLEEP_RESET
    _wait(lambda: vb.wakes >= 2, 10)  # down again after its window, and up again
    vb.wait_awake()
    vb.command("power stay")
    # Wakes are not boots: one BOOT record, none per wake (the log would drown its visits).
    types = [r[2] for r in vb.command("log 0 16")["records"]]
    assert types.count(wire.EVENT_BOOT) == 1


def test_a_console_command_keeps_the_lock_awake(boot_board):
    vb = boot_board(power_policy=POLICY)
    vb.wait_awake()
    assert vb.command("power stay")["stay"] is True
    time.sleep(1.0)
    assert not vb.asleep and vb.running
    assert vb.command("power auto")["stay"] is False
    _wait(lambda: vb.asleep, 5)


def test_bench_mode_outlasts_resets_and_sleeps_but_not_a_power_on(boot_board):
    """`power stay` is kept in flash: the bench's sleeps and resets keep the unit awake (its
    console reachable); a battery put in (a power-on) starts the policy, so no unit reaches a
    customer's door in bench mode."""
    vb = boot_board(power_policy=POLICY)
    vb.wait_awake()
    assert vb.command("power stay")["stay"] is True
    wakes = vb.wakes
    assert vb.command("power sleep 500")["sleep_ms"] == 500  # the bench's own sleep
    _wait(lambda: vb.wakes > wakes, 10)
    vb.wait_awake()
    time.sleep(1.0)  # longer than the policy's 0.4 s window
    assert not vb.asleep and vb.command("power")["stay"] is True
    boots = vb.boots
    vb.hang()  # the watchdog resets it
    _wait(lambda: vb.boots > boots, 20)
    vb.wait_ready()
    time.sleep(1.0)
    assert vb.reset_cause == 3 and not vb.asleep and vb.command("power")["stay"] is True
    vb.power_cut()
    vb.power_on()
    _wait(lambda: vb.asleep, 5)  # the policy again
    vb.wait_awake()
    assert vb.command("power")["stay"] is False


def test_the_button_wakes_the_lock_and_runs_the_selftest(boot_board):
    vb = boot_board(power_policy={"awake_ms": 300, "sleep_ms": 60_000})
    _wait(lambda: vb.pins.asleep, 5)
    press = vb.press_button()
    _wait(lambda: any(led == "red" for _, led, _on in vb.led_timeline(press)), 15)
    greens = [t for t, led, on in vb.led_timeline(press) if led == "green" and on]
    assert greens and greens[0] < 2.0  # wake + boot + green, well inside the routine's limits
    assert vb.pins.wake_reason == 2  # EXT0: the button


def test_a_client_unlocks_a_sleeping_lock_in_its_next_window(radio, boot_board, fleet):
    vb = boot_board(radio=radio, bolt=1.0, power_policy=POLICY)
    vb.command("power stay")  # the console needs it awake to provision it
    vb.provision(fleet)  # the lock restarts, in bench mode still
    vb.command("power auto")  # and follows its policy again
    key = issue(fleet, vb.lock_id, wire.ROLE_STAFF)
    _wait(lambda: vb.asleep, 5)

    async def unlock():
        start = time.monotonic()
        async with LockClient(vb.lock_id, key=key, scan_timeout=10) as lock:
            result = await lock.unlock()
        return result, time.monotonic() - start

    result, took = asyncio.run(unlock())
    assert result.state == LockState.UNLOCKED
    assert took < 1.5 + 0.5 + 3.0  # at most a sleep, a start-up, and the unlock itself


def test_the_firmware_counts_the_charge_the_battery_model_delivers(boot_board):
    """The energy account agrees with the physics: the firmware counts from board figures and
    its own power states; the model integrates the current those states actually draw."""
    vb = boot_board(power_policy=POLICY)
    vb.wait_awake()
    vb.command("power stay")
    start_model = vb.charge_used_mah()
    start_count = vb.command("power")["used_uah"]
    for target in ("unlock", "lock") * 3:
        assert vb.command(target)["result"] == Status.OK
    vb.command("power auto")
    _wait(lambda: vb.wakes >= 3, 20)  # sleeps and wakes, the count riding in RTC memory
    vb.wait_awake()
    vb.command("power stay")
    counted = (vb.command("power")["used_uah"] - start_count) / 1000
    delivered = vb.charge_used_mah() - start_model
    assert delivered > 0.05
    assert abs(counted - delivered) <= 0.2 * delivered + 0.01, (counted, delivered)


def test_the_count_survives_a_reboot_and_a_power_cut(boot_board):
    vb = boot_board()
    vb.command("unlock")
    vb.command("lock")  # a motor run saves the count
    saved = vb.command("power")["used_uah"]
    assert saved > 0
    vb.power_cut()
    vb.power_on()
    assert vb.command("power")["used_uah"] >= saved


def test_battery_state_follows_a_discharge(boot_board):
    vb = boot_board()
    states = []
    # Down to "discharged": below critical under the test load, still above the brownout
    # (deeper, the test load itself would reset the chip, as it would a real one).
    for soc in (1.0, 0.5, 0.1, 0.04, "low", 0.02, "discharged"):
        if isinstance(soc, str):
            vb.set_battery(soc)
        else:
            vb.set_battery(soc=soc)
        states.append(vb.command("battery")["battery"])
    assert states[0] == BatteryState.OK
    assert states == sorted(states)  # never better on the way down
    assert BatteryState.LOW in states and states[-1] == BatteryState.CRITICAL


def test_swap_registration_over_ble_checks_the_new_battery(radio, boot_board, fleet):
    vb = boot_board(radio=radio, bolt=1.0)
    vb.provision(fleet)
    staff = issue(fleet, vb.lock_id, wire.ROLE_STAFF)
    technician = issue(fleet, vb.lock_id, wire.ROLE_TECHNICIAN)
    vb.command("unlock")
    vb.command("lock")

    async def register(key):
        async with LockClient(vb.lock_id, key=key) as lock:
            return await lock.register_battery_swap(), await lock.battery()

    vb.swap_battery("low")  # a wrong replacement: a used cell
    with pytest.raises(BatteryDepletedError) as refused:
        asyncio.run(register(staff))  # a carer's key registers swaps (issue 11); the check still holds
    assert refused.value.status == Status.BATTERY_DEPLETED and refused.value.loaded_mv > 0
    assert vb.command("power")["used_uah"] > 0  # the count was not reset
    assert vb.command("battery")["last_swap"] == 0

    vb.swap_battery("fresh")
    registration, reading = asyncio.run(register(technician))
    assert registration.state == BatteryState.OK and registration.swap_time > 0
    assert reading.last_swap == registration.swap_time and reading.used_mah == 0
    assert reading.percent == 100
    types = [r[2] for r in vb.command("log 0 16")["records"]]
    assert wire.EVENT_SWAP_REFUSED in types and wire.EVENT_BATTERY_SWAP in types
