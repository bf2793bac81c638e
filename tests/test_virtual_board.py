"""The real firmware on the virtual board: the routine's self-test, the bolt, the battery.

Every test boots firmware/ unchanged on the MicroPython unix port with a 96 KiB heap; the
simulated machine module talks to the physical model. Timings come from the LED and motor
timelines the model records, not from the firmware's own account.
"""

import threading
import time

import pytest

from hemlas.firmware import wire

pytestmark = pytest.mark.virtual_board

BOARDS = ["virtual", "esp32-devkitc", "esp32c3"]


def _log(vb, from_seq=0):
    records = []
    while True:
        answer = vb.command(f"log {from_seq}")
        records += answer["records"]
        if not answer["records"] or records[-1][0] + 1 >= answer["next_seq"]:
            return records
        from_seq = records[-1][0] + 1


def _events(vb, event_type):
    return [r for r in _log(vb) if r[2] == event_type]


def _selftest(vb, wait_s=6.0):
    press = vb.press_button()
    deadline = time.monotonic() + 25
    while time.monotonic() < deadline:  # until the self-test's record is in the log
        time.sleep(0.25)
        if _events(vb, wire.EVENT_SELFTEST) and time.monotonic() - press > wait_s:
            break
    return vb.led_timeline(press)


def _phases(timeline, name):
    """[(on_at, off_at)] for one LED."""
    phases, on_at = [], None
    for t, led, on in timeline:
        if led != name:
            continue
        if on:
            on_at = t
        elif on_at is not None:
            phases.append((on_at, t))
            on_at = None
    return phases


@pytest.mark.parametrize("battery,blinks,verdict", [
    ("fresh", 1, wire.BATTERY_OK),
    ("low", 2, wire.BATTERY_LOW),
    ("discharged", 0, wire.BATTERY_CRITICAL),
])
def test_selftest_follows_the_routine(boot_board, battery, blinks, verdict):
    vb = boot_board(battery=battery)
    timeline = _selftest(vb)
    green = _phases(timeline, "green")
    red = _phases(timeline, "red")
    assert len(green) == 1
    assert green[0][0] < 0.1, "green must light at once on the press"
    assert green[0][1] <= 10.0, "green must go out within 10 s"
    assert len(red) == blinks
    for on_at, off_at in red:
        assert off_at <= 20.0, "red blinks must come within 20 s of the press"
        assert off_at - on_at <= 0.5, "a blink is brief"
        assert on_at > green[0][1], "red answers after green went out"
    record = _events(vb, wire.EVENT_SELFTEST)[-1]
    idle_mv, loaded_mv, state, green_off_ms, n, red_done_ms = record[3]
    assert (state, n) == (verdict, blinks)
    assert abs(green_off_ms / 1000 - green[0][1]) < 0.1
    cfg = vb.board["battery"]
    assert loaded_mv < idle_mv
    if verdict == wire.BATTERY_OK:
        assert loaded_mv >= cfg["low_mv"]
    elif verdict == wire.BATTERY_LOW:
        assert cfg["critical_mv"] <= loaded_mv < cfg["low_mv"]
    else:
        assert loaded_mv < cfg["critical_mv"]


@pytest.mark.parametrize("board", BOARDS)
def test_lock_and_unlock_reach_end_of_travel(boot_board, board):
    vb = boot_board(board, bolt=0.0)
    if not vb.board["pins"]["limit_locked"]:
        # Stall sensing: UNKNOWN after boot; a new unit's first move must be a full one.
        assert vb.wait_ready()["state"] == wire.LOCK_UNKNOWN
        assert vb.command("lock")["state"] == wire.LOCK_LOCKED
    first = vb.command("unlock")
    assert first["result"] == wire.STATUS_OK and first["state"] == wire.LOCK_UNLOCKED
    travel = vb.board["motor"]["travel_ms"]
    for _ in range(2):
        locked = vb.command("lock")
        assert locked["result"] == wire.STATUS_OK and locked["state"] == wire.LOCK_LOCKED
        assert vb.bolt_position >= 0.99
        assert 0.6 * travel <= locked["travel_ms"] <= vb.board["motor"]["max_travel_ms"]
        unlocked = vb.command("unlock")
        assert unlocked["result"] == wire.STATUS_OK and unlocked["state"] == wire.LOCK_UNLOCKED
        assert vb.bolt_position <= 0.01
    assert len(_events(vb, wire.EVENT_LOCKED)) >= 2
    assert all(r[3][1] > 0 for r in _events(vb, wire.EVENT_LOCKED)), "loaded voltage recorded"


@pytest.mark.parametrize("board", ["virtual", "esp32c3"])
def test_jam_stops_the_motor_and_reports_jammed(boot_board, board):
    vb = boot_board(board)
    vb.command("lock")
    vb.command("unlock")
    vb.jam(at=0.5)
    start = time.monotonic()
    answer = vb.command("lock")
    assert answer["result"] == wire.STATUS_JAMMED and answer["state"] == wire.LOCK_JAMMED
    assert vb.bolt_position <= 0.5 + 1e-6
    limit_s = vb.board["motor"]["max_travel_ms"] / 1000
    drives = vb.motor_timeline(start)
    forward = [(t, drives[i + 1][0]) for i, (t, d, _) in enumerate(drives[:-1]) if d > 0]
    assert len(forward) == 2, "one try and one retry"
    for on_at, off_at in forward:
        assert off_at - on_at <= limit_s + 0.05, "never driven past the board's limit"
    assert drives[-1][1] == 0, "motor off at the end"
    assert _events(vb, wire.EVENT_JAMMED)
    vb.clear_jam()
    assert vb.command("lock")["state"] == wire.LOCK_LOCKED


def test_critical_battery_refuses_the_motor(boot_board):
    vb = boot_board(battery="discharged")
    before = vb.bolt_position
    start = time.monotonic()
    answer = vb.command("lock")
    assert answer["result"] == wire.STATUS_BATTERY_CRITICAL
    assert vb.motor_timeline(start) == [] and vb.bolt_position == before
    refused = _events(vb, wire.EVENT_REFUSED_BATTERY)
    assert refused and refused[-1][3][0] == wire.LOCK_LOCKED
    assert vb.command("status")["battery"] == wire.BATTERY_CRITICAL


def test_state_after_boot_is_read_from_the_sensors(boot_board, tmp_path):
    vb = boot_board(bolt=1.0)
    assert vb.wait_ready()["state"] == wire.LOCK_LOCKED
    vb.command("unlock")
    vb.power_cut()
    vb.set_bolt(0.4)  # someone turned the bolt by hand while the power was off
    assert vb.power_on()["state"] == wire.LOCK_UNKNOWN
    vb.power_cut()
    vb.set_bolt(1.0)
    assert vb.power_on()["state"] == wire.LOCK_LOCKED


def test_event_log_survives_restarts(boot_board):
    vb = boot_board()
    vb.command("lock")
    vb.command("unlock")
    before = _log(vb)
    vb.power_cut()
    vb.power_on()
    after = _log(vb)
    assert after[: len(before)] == before
    assert after[len(before)][2] == wire.EVENT_BOOT and after[len(before)][0] == before[-1][0] + 1


def test_bounce_storm_without_a_press_starts_nothing(boot_board):
    vb = boot_board()
    start = time.monotonic()
    vb.bounce_storm(edges=300, end_pressed=False)
    time.sleep(1.0)
    assert vb.led_timeline(start) == []
    assert vb.command("status")["state"] == wire.LOCK_UNLOCKED  # still answering


def test_bouncy_press_starts_exactly_one_selftest(boot_board):
    vb = boot_board()
    start = time.monotonic()
    vb.bounce_storm(edges=300, end_pressed=True)
    time.sleep(0.3)
    vb.bounce_storm(edges=51, end_pressed=False)  # release, bouncing; a second storm mid-test
    vb.bounce_storm(edges=101, end_pressed=True)
    vb.bounce_storm(edges=51, end_pressed=False)
    time.sleep(5.0)
    assert len(_phases(vb.led_timeline(start), "green")) == 1
    assert len(_events(vb, wire.EVENT_SELFTEST)) == 1


def test_command_while_the_motor_moves(boot_board):
    vb = boot_board()
    answers = {}
    thread = threading.Thread(target=lambda: answers.update(lock=vb.command("lock")))
    thread.start()
    time.sleep(0.2)
    assert vb.command("status")["state"] == wire.LOCK_LOCKING
    assert vb.command("unlock")["result"] == wire.STATUS_BUSY
    thread.join()
    assert answers["lock"]["result"] == wire.STATUS_OK
    assert vb.command("status")["state"] == wire.LOCK_LOCKED
    assert vb.bolt_position >= 0.99


def test_selftest_during_a_motor_run_waits_for_it(boot_board):
    vb = boot_board()
    thread = threading.Thread(target=vb.command, args=("lock",))
    thread.start()
    time.sleep(0.1)
    timeline = _selftest(vb)
    thread.join()
    assert _phases(timeline, "green")[0][0] < 0.1  # the green answer is still immediate
    assert len(_phases(timeline, "red")) == 1
    assert vb.command("status")["state"] == wire.LOCK_LOCKED


def test_bad_console_input_gets_an_error_and_changes_nothing(boot_board):
    vb = boot_board()
    assert vb.command("frobnicate")["error"] == "unknown command"
    assert "error" in vb.command("log notanumber")
    assert vb.command("log " + "9" * 300)["error"] == "line too long"
    assert vb.command("status")["state"] == wire.LOCK_UNLOCKED


def test_hung_firmware_is_restarted_by_the_watchdog(boot_board):
    import os
    import signal

    vb = boot_board()
    boots = vb.boots
    os.kill(vb._proc.pid, signal.SIGSTOP)  # the firmware hangs: nothing feeds the watchdog
    deadline = time.monotonic() + vb.board["wdt_ms"] / 1000 + 5
    while vb.boots == boots and time.monotonic() < deadline:
        time.sleep(0.1)
    assert vb.boots == boots + 1, "the watchdog did not reset the board"
    vb.wait_ready()
    assert _events(vb, wire.EVENT_BOOT)[-1][3][0] == 3  # machine.WDT_RESET


def test_a_dead_cell_browns_out_the_board_under_load(boot_board):
    vb = boot_board()
    vb.set_battery(soc=0.0)  # emptier than "discharged": the test load pulls it under brownout
    boots = vb.boots
    press = vb.press_button()
    deadline = time.monotonic() + 10
    while vb.boots == boots and time.monotonic() < deadline:
        time.sleep(0.05)
    assert vb.boots == boots + 1, "the supply collapsed under load: the MCU must reset"
    vb.wait_ready()
    time.sleep(4.5)
    timeline = vb.led_timeline(press)
    assert [e[1:] for e in timeline][:2] == [("green", True), ("green", False)]
    assert not _phases(timeline, "red"), "no red blink: the sign of a fully discharged battery"
    assert _events(vb, wire.EVENT_BOOT)[-1][3][0] == 2  # HARD_RESET (brownout)


def test_the_firmware_trace_agrees_with_the_board(boot_board):
    """The hardware trace the bench suite reads over serial tells the same timings as the
    virtual board's own LED and motor records."""
    vb = boot_board(bolt=0.0)
    press = vb.press_button()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and len([e for e in vb.led_timeline(press) if e[1] == "red"]) < 2:
        time.sleep(0.05)
    assert vb.command("lock")["result"] == wire.STATUS_OK
    answer = vb.command("trace")
    events = [(ticks, kind, value) for _seq, ticks, kind, value in answer["events"]]
    kinds = [(kind, value) for _t, kind, value in events]
    assert kinds[:5] == [(3, 1), (1, 1), (1, 0), (2, 1), (2, 0)]  # press, green on/off, one red blink
    assert (4, 1) in kinds and kinds[-1] == (4, 0)  # the motor out, then off
    green_on, green_off = events[1][0], events[2][0]
    board_green = [t for t, led, _on in vb.led_timeline(press) if led == "green"]
    assert abs((green_off - green_on) / 1000 - (board_green[1] - board_green[0])) < 0.05
    assert answer["next"] == len(answer["events"])
