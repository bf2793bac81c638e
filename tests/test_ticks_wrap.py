"""The lock across ticks_ms()'s wrap, as an ESP32 reaches it after 2**30 ms (12.4 days) awake.

The ESP32-like interpreter starts its ticks where the board asks (VirtualBoard(ticks_start_ms=),
third_party/micropython/ticks-start.patch), so each test boots seconds before the wrap and runs
one thing across it: a motor run, a session's idle limit, the self-test, the auth back-off, the
power policy's sleep. The references are outside the firmware: MicroPython's own ticks_diff
(extmod/modtime.c, written out below), the host's clock for the motor and the LEDs, and the
firmware's hardware trace read with that ticks_diff.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
from pathlib import Path

import pytest

from fleet_helpers import issue
from hemlas.client import LockClient
from hemlas.codes import LockState, Status
from hemlas.errors import VirtualBoardError
from hemlas.firmware import wire
from hemlas.sim import VirtualBoard
from hemlas.sim.build import TICKS_START_ENV
from interpreters import executable
from test_security import Wire, hello_frame, status_of

pytestmark = pytest.mark.virtual_board

PERIOD = 2**30  # an ESP32's ticks_ms() period (MICROPY_PY_TIME_TICKS_PERIOD on a 32-bit port)
GREEN, RED, BUTTON, MOTOR = 1, 2, 3, 4  # firmware/hwtrace.py


def ticks_diff(end: int, start: int) -> int:
    """time.ticks_diff as extmod/modtime.c computes it: signed, within half a period."""
    return (end - start + PERIOD // 2) % PERIOD - PERIOD // 2


@pytest.fixture
def esp32like() -> str:
    return executable("esp32like")  # skips saying why where it is not built (fails under CI)


@pytest.fixture
def wrap_board(esp32like, boot_board, radio):
    """Boot a board (on the test's radio) whose ticks_ms() starts `before_wrap_ms` before the wrap."""
    def boot(before_wrap_ms: int, name: str = "virtual", **kwargs) -> VirtualBoard:
        return boot_board(name, interpreter="esp32like", ticks_start_ms=PERIOD - before_wrap_ms,
                          radio=radio, **kwargs)
    return boot


def ticks_now(vb: VirtualBoard) -> int:
    return vb.command("trace")["now"]


def wait_for_ticks(vb: VirtualBoard, before_wrap_ms: int) -> None:
    """Return once the firmware's own ticks_ms() reads before_wrap_ms before the wrap (negative:
    after it). Steered by the firmware's clock; the tests then check where things fell."""
    while True:
        to_go = ticks_diff(0, ticks_now(vb)) - before_wrap_ms
        if to_go <= 0:
            return
        time.sleep(min(to_go, 1000) / 1000)


def trace_since(vb: VirtualBoard, seq: int) -> list[tuple[int, int, int, int]]:
    events, answer = [], vb.command(f"trace {seq}")
    while answer["events"]:
        events += [tuple(e) for e in answer["events"]]
        answer = vb.command(f"trace {events[-1][0] + 1}")
    return events


def before_wrap(ticks: int) -> bool:
    return ticks > PERIOD // 2


# ---- the interpreter itself -------------------------------------------------------------------

_CLOCK_SCRIPT = """
import time, asyncio
ms0, us0, wall0 = time.ticks_ms(), time.ticks_us(), time.time()
async def across():
    await asyncio.sleep_ms(700)
asyncio.run(across())
ms1, us1 = time.ticks_ms(), time.ticks_us()
print(ms0, ms1, us0, us1, wall0, time.ticks_add(0, -1))
"""


def test_the_esp32like_clock_starts_where_asked_and_wraps_at_2_30_ms(esp32like):
    start = PERIOD - 300
    wall = time.time()
    run = subprocess.run([esp32like, "-c", _CLOCK_SCRIPT], capture_output=True, text=True, timeout=30,
                         env={**os.environ, TICKS_START_ENV: str(start)})
    ms0, ms1, us0, us1, wall0, last = (int(float(v)) for v in run.stdout.split())
    assert last == PERIOD - 1, "ticks_ms() wraps at 2**30 ms, as on an ESP32"
    assert 0 <= ticks_diff(ms0, start) < 200, (ms0, start)
    assert ms1 < ms0, "the asyncio sleep ended after the wrap"
    slept = ticks_diff(ms1, ms0)
    assert 700 <= slept < 2000, "asyncio's task queue (C, mp_hal_ticks_ms) slept across the wrap"
    assert abs(ticks_diff(us1, us0) / 1000 - slept) < 20, "ticks_us() is the same clock"
    assert abs(wall0 - wall) < 5, "time.time() keeps the wall clock: the start moves ticks only"


def test_a_bad_start_stops_the_interpreter_saying_why(esp32like):
    run = subprocess.run([esp32like, "-c", "print(1)"], capture_output=True, text=True, timeout=30,
                         env={**os.environ, TICKS_START_ENV: str(PERIOD)})
    assert run.returncode == 1 and run.stdout == ""
    assert f"{TICKS_START_ENV}={PERIOD}: not a ticks_ms value (0 to {PERIOD - 1})" in run.stderr


def test_ticks_start_is_refused_where_the_interpreter_cannot_do_it(esp32like):
    with pytest.raises(VirtualBoardError, match="only the ESP32-like MicroPython"):
        VirtualBoard(interpreter=executable("mpy64"), ticks_start_ms=PERIOD - 20_000)
    for wrong in (PERIOD, -1, "1000", 1.5, True):
        with pytest.raises(VirtualBoardError, match="not a ticks_ms value"):
            VirtualBoard(interpreter=esp32like, ticks_start_ms=wrong)


# ---- the firmware across the wrap -------------------------------------------------------------

def test_moves_across_the_wrap_report_their_true_travel(wrap_board, fleet):
    vb = wrap_board(10_000, bolt=0.0)
    vb.provision(fleet)
    key = issue(fleet, vb.lock_id, wire.ROLE_STAFF)
    first = vb.command("trace")["next"]
    since = time.monotonic()
    results = []

    async def moves():
        async with LockClient(vb.lock_id, key=key) as client:
            opened = await asyncio.to_thread(ticks_now, vb)
            used_before = (await client.battery()).used_mah
            await asyncio.to_thread(wait_for_ticks, vb, 3000)
            for action in (client.lock, client.unlock):
                results.append(await action())
            # The next run starts within the BLE round trip (well under 250 ms) and lasts
            # ~600 ms: across the wrap. Then back to back until 2 s after it, same session.
            await asyncio.to_thread(wait_for_ticks, vb, 250)
            while ticks_diff(0, await asyncio.to_thread(ticks_now, vb)) > -2000:
                for action in (client.lock, client.unlock):
                    results.append(await action())
            return opened, used_before, (await client.battery()).used_mah

    opened, used_before, used_after = asyncio.run(moves())
    assert before_wrap(opened)
    # The charge count adds each run's time: never less after a run (a wrong difference across
    # the wrap takes 12 days of motor current off it), and not more than the runs can draw.
    assert used_before <= used_after <= used_before + 10, (used_before, used_after)
    logged = [r[3][0] for r in vb.command("log 0")["records"] if r[2] in (wire.EVENT_LOCKED, wire.EVENT_UNLOCKED)]
    assert logged[-len(results):] == [r.travel_ms for r in results], "the log keeps the travel answered"
    assert all(r.state == s for r, s in zip(results, [LockState.LOCKED, LockState.UNLOCKED] * 20))
    runs = _motor_runs(trace_since(vb, first))
    assert any(before_wrap(start) and not before_wrap(stop) for start, stop in runs), \
        "a motor run went across the wrap"
    host_runs = _host_runs(vb.motor_timeline(since))
    assert len(runs) == len(host_runs) == len(results)
    for result, (start, stop), host_ms in zip(results, runs, host_runs):
        # travel_ms is the firmware's own ticks_diff over the run: what the trace and the
        # host's clock say the motor ran, within the 20 ms poll and the stop's brake.
        assert 300 <= result.travel_ms <= 1500, result
        assert abs(result.travel_ms - ticks_diff(stop, start)) <= 60, (result, start, stop)
        assert abs(result.travel_ms - host_ms) <= 150, (result, host_ms)


def _motor_runs(events) -> list[tuple[int, int]]:
    """(drive ticks, stop ticks) for each run in the trace (drive 1/2, then brake 3 or off 0)."""
    runs, start = [], None
    for _seq, ticks, kind, value in events:
        if kind != MOTOR:
            continue
        if value in (1, 2):
            start = ticks
        elif start is not None:
            runs.append((start, ticks))
            start = None
    return runs


def _host_runs(timeline) -> list[float]:
    """Milliseconds of each drive on the host's clock (motor_timeline: seconds, direction).
    The firmware sets the H-bridge's two pins one after the other, so braking passes through
    a drive for microseconds: those are not runs."""
    runs, start = [], None
    for t, direction, _duty in timeline:
        if direction and start is None:
            start = t
        elif not direction and start is not None:
            if t - start > 0.05:
                runs.append((t - start) * 1000)
            start = None
    return runs


def test_a_session_idle_across_the_wrap_expires(wrap_board, fleet):
    vb = wrap_board(4000)
    vb.provision(fleet)
    key = issue(fleet, vb.lock_id, wire.ROLE_STAFF)

    async def go():
        link = await Wire.open(vb.lock_id)
        try:
            # A HELLO before the wrap, the first request after it: more than the 10 s the first
            # request may take (auth._CHALLENGE_MS), so the session is over.
            # (A session in use across the wrap: test_moves_across_the_wrap_report_their_true_travel.)
            await asyncio.to_thread(wait_for_ticks, vb, 3000)
            idle = await link.send(hello_frame(key))
            hello_ticks = await asyncio.to_thread(ticks_now, vb)
            await asyncio.to_thread(wait_for_ticks, vb, -8000)
            assert ticks_diff(await asyncio.to_thread(ticks_now, vb), hello_ticks) > 10_000
            return status_of(await link.send(_request(key, idle, wire.OP_STATUS, 1)))
        finally:
            await link.close()

    assert asyncio.run(go()) == Status.SESSION_EXPIRED


def _request(key, hello_answer, opcode, counter):
    from test_security import session_of
    session_id, session_key = session_of(key, hello_answer)
    frame = wire.encode_frame(opcode, session_id, counter, b"")
    return wire.with_tag(frame, wire.tag(session_key, wire.TAG_REQUEST, frame))


def test_the_self_test_across_the_wrap_keeps_its_timings(wrap_board):
    vb = wrap_board(5000, battery="fresh")
    first = vb.command("trace")["next"]
    wait_for_ticks(vb, 1200)  # green lights before the wrap; off, and the red blink, after it
    since = vb.press_button()
    while vb.command("status")["busy"] or ticks_diff(0, ticks_now(vb)) > -4000:
        time.sleep(0.2)
    events = trace_since(vb, first)
    press = next(t for _s, t, kind, _v in events if kind == BUTTON)
    green = [ticks_diff(t, press) for _s, t, kind, _v in events if kind == GREEN]
    red = [(ticks_diff(t, press), v) for _s, t, kind, v in events if kind == RED]
    assert before_wrap(press) and not before_wrap(events[-1][1]), "the self-test ran across the wrap"
    assert len(green) == 2 and green[0] < 500 and 2400 <= green[1] <= 10_000, green
    assert [v for _t, v in red] == [1, 0] and red[-1][0] <= 20_000, red
    # The host's clock saw the LEDs change as the trace says they did.
    host = [(t * 1000, name, on) for t, name, on in vb.led_timeline(since)]
    host_green_ms = [t for t, name, _on in host if name == "green"]
    assert abs((host_green_ms[1] - host_green_ms[0]) - (green[1] - green[0])) <= 100, (host, green)
    logged = [r for r in vb.command("log 0")["records"] if r[2] == wire.EVENT_SELFTEST][-1]
    _idle, _loaded, _state, green_off_ms, blinks, red_done_ms = logged[3]
    assert blinks == 1 and 2400 <= green_off_ms <= 10_000 and green_off_ms < red_done_ms <= 20_000, logged


def test_the_auth_back_off_across_the_wrap_waits_and_forgives_on_time(wrap_board, fleet):
    vb = wrap_board(8000)
    vb.provision(fleet)
    key = issue(fleet, vb.lock_id, wire.ROLE_STAFF)
    forged = type(key)(key.lock_id, key.key_id, key.role, key.not_before, key.not_after, os.urandom(32),
                       key.adv_key)

    async def guess(times):
        link = await Wire.open(vb.lock_id)
        try:
            return [status_of(await link.send(hello_frame(forged))) for _ in range(times)]
        finally:
            await link.close()

    wait_for_ticks(vb, 4000)
    assert asyncio.run(guess(5)) == [Status.BAD_TAG] * 5  # the last waited 250 ms, then 500 is due
    last_failure = ticks_now(vb)
    assert before_wrap(last_failure)
    assert vb.command("status")["auth_backoff_ms"] == 500
    wait_for_ticks(vb, -1000)
    assert vb.command("status")["auth_backoff_ms"] == 500, "the wrap forgave nothing"
    assert asyncio.run(guess(1)) == [Status.BAD_TAG], "a delay over the wrap ends"
    last_failure = ticks_now(vb)
    # A quiet minute (auth._QUIET_MS) after the last failure, counted across the wrap, forgives.
    while ticks_diff(ticks_now(vb), last_failure) < 59_000:
        assert vb.command("status")["auth_backoff_ms"] == 1000
        time.sleep(5)
    while ticks_diff(ticks_now(vb), last_failure) <= 61_000:
        time.sleep(0.5)
    assert vb.command("status")["auth_backoff_ms"] == 0


def test_the_esp32c3_sleeps_when_its_awake_window_ends_across_the_wrap(wrap_board):
    # Booted 1.5 s before the wrap with a 3 s window and left alone (a console command would
    # keep it awake), the policy's ticks_diff must see the window end after the wrap.
    policy = {"awake_ms": 3000, "sleep_ms": 1500, "adv_interval_ms": 100}
    powered = time.monotonic()
    vb = wrap_board(1500, name="esp32c3", power_policy=policy, battery="fresh")
    deadline = powered + 20  # a timeout only: it sleeps after 3 s, or never
    while not vb.asleep and time.monotonic() < deadline:
        time.sleep(0.05)
    assert vb.asleep, "the window ran out after the wrap: the lock went to sleep"
    assert time.monotonic() - powered >= policy["awake_ms"] / 1000, "not before its window ended"
    vb.wait_awake(30)  # the timer woke it; it booted with ticks_ms() before the wrap again
    assert vb.wakes == 1 and before_wrap(ticks_now(vb))


class _BenchUnit:
    """What the bench suite's self-test check uses of a unit (hil_tests/bench.py): its serial
    console and the technician's finger on the button."""

    def __init__(self, vb: VirtualBoard):
        self.vb = vb

    def console(self, line: str) -> dict:
        return self.vb.command(line)

    def press_button(self) -> None:
        self.vb.press_button()


def test_the_bench_self_test_check_reports_true_times_across_the_wrap(wrap_board, monkeypatch):
    hil_tests = Path(__file__).resolve().parent.parent / "hil_tests"
    monkeypatch.syspath_prepend(str(hil_tests))
    import test_unit

    vb = wrap_board(4000, battery="fresh")
    wait_for_ticks(vb, 1200)  # pressed before the wrap; green off and the red blink after it
    figures: dict = {}
    test_unit.test_selftest_follows_the_routine(_BenchUnit(vb), lambda name, value: figures.update({name: value}))
    assert not before_wrap(ticks_now(vb))
    # The unit's report: what a technician reads (the firmware's own green phase is 2.5 s).
    assert 0 <= figures["green on after (s)"] < 0.5, figures
    assert 2.4 <= figures["green off after (s)"] <= 10, figures
    assert figures["green off after (s)"] < figures["red done after (s)"] <= 20, figures
