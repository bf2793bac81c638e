"""The lock's clock on a simulated RTC: lost with the power, kept across resets, drifting.

An ESP32's time.time() counts from 0 at power-up (ESP-IDF's RTC timer; MicroPython's esp32
port reads it through gettimeofday, ports/esp32/modtime.c) and runs on its slow clock's error.
The ESP32-like interpreter reads the virtual board's model of it (VirtualBoard(rtc_drift_ppm=),
third_party/micropython/time-rtc.patch); mpy64 keeps the host's clock, so these tests need the
ESP32-like build (they skip saying why without it, and fail under CI=true).

Hours pass by time compression: VirtualBoard.elapse(s) runs the chip's RTC through s seconds
at its own rate, while the host's clock (the clients') stands still; each test keeps its world
time as host time plus what it let elapse. The clients' correction rule is written out from
docs/security.md ("The clock": a lock lagging by over 30 s is moved forward, at most 10 min per
request, by any key; only an admin moves it back or further) and applied at the world time.
"""

from __future__ import annotations

import asyncio
import subprocess
import time

import pytest

from fleet_helpers import issue
from hemlas.client import CLOCK_LAG_S, LockClient
from hemlas.codes import Status
from hemlas.errors import AuthError, LockError, VirtualBoardError
from hemlas.firmware import wire
from hemlas.sim import VirtualBoard
from hemlas.sim.clock import RTC_DRIFT_ENV, RTC_START_ENV
from interpreters import executable

pytestmark = pytest.mark.virtual_board

FORWARD_S = 600  # docs/security.md: any session moves the clock forward at most 10 minutes
DAY_S = 86_400
TWO_PERCENT_SLOW = -20_000  # ppm: an RC slow clock's error (percent)


@pytest.fixture
def esp32like() -> str:
    return executable("esp32like")  # skips saying why where it is not built (fails under CI)


class World:
    """The test's time: the host's clock plus what it let elapse on the chip."""

    def __init__(self):
        self.ahead_s = 0.0

    def now(self) -> int:
        return int(time.time() + self.ahead_s)


def lock_clock(vb: VirtualBoard) -> int:
    return vb.command("status")["clock"]


async def _session(vb, key, new_time=None):
    async with LockClient(vb.lock_id, key=key, sync_clock=False) as client:
        if new_time is not None:
            return await client.set_clock(new_time)
        return client.lock_time


def session(vb, key, new_time=None):
    """Open a session with key (a LockError if the lock refuses it); set the clock if asked."""
    return asyncio.run(_session(vb, key, new_time))


def visit(vb, key, world: World) -> None:
    """A client's clock sync at world time, as docs/security.md states the rule."""
    async def go():
        async with LockClient(vb.lock_id, key=key, sync_clock=False) as client:
            now = world.now()
            if now - client.lock_time > CLOCK_LAG_S:
                await client.set_clock(min(now, client.lock_time + FORWARD_S))
    asyncio.run(go())


def set_up(vb, fleet, world):
    """Provision the lock (which sets its clock to the technician's, the world's: a fresh
    chip's RTC reads its epoch) and issue an admin key that sets the clock later on."""
    assert lock_clock(vb) < 3600  # the RTC's epoch, not the host's time
    vb.provision(fleet)
    assert abs(lock_clock(vb) - world.now()) <= 2
    setter = issue(fleet, vb.lock_id, wire.ROLE_ADMIN, not_before=0, not_after=world.now() + 3 * DAY_S,
                   keyfile=False)
    session(vb, setter, world.now())
    assert abs(lock_clock(vb) - world.now()) <= 2
    return setter


def test_provisioning_sets_a_fresh_chips_clock(esp32like, boot_board, radio, fleet):
    """A new chip's RTC reads its epoch, where every key the fleet issues is not yet valid and
    no session can be opened to move the clock: provisioning over serial (physical access)
    brings the technician's clock with the secret, so a key issued now opens the lock."""
    vb = boot_board(radio=radio, interpreter="esp32like", rtc_drift_ppm=0)
    assert lock_clock(vb) < 3600
    vb.provision(fleet)
    assert abs(lock_clock(vb) - time.time()) <= 2
    events = vb.command("log")["records"]
    clock_set = [r for r in events if r[2] == wire.EVENT_CLOCK_SET]
    assert clock_set and clock_set[-1][3][2] == 0  # logged as any change, by no key (the console)
    staff = issue(fleet, vb.lock_id, wire.ROLE_STAFF, keyfile=False)  # valid from a minute ago
    assert session(vb, staff) >= int(time.time()) - 2


def test_the_interpreter_reads_the_rtc_it_is_given(esp32like):
    """The patch's contract, against the host's elapsed time: the start as given, the rate as
    1 + ppm/1e6, and a bad value refused before the firmware runs."""
    probe = "import time; a = time.time_ns(); time.sleep(0.5); b = time.time_ns(); print(time.time(), b - a)"
    out = subprocess.run([esp32like, "-c", probe], capture_output=True, text=True, timeout=20,
                         env={RTC_START_ENV: "86400", RTC_DRIFT_ENV: "-500000"}).stdout.split()
    assert 86400 <= int(out[0]) <= 86402
    assert 0.23e9 <= int(out[1]) <= 0.35e9  # 0.5 s of host time at half the rate
    bad = subprocess.run([esp32like, "-c", "print(1)"], capture_output=True, text=True, timeout=20,
                         env={RTC_START_ENV: "-5"})
    assert bad.returncode == 1 and "MICROPY_RTC_START=-5" in bad.stderr


def test_the_host_clock_port_is_refused_an_rtc():
    mpy64 = executable("mpy64")
    with pytest.raises(VirtualBoardError, match="keeps the host's wall clock"):
        VirtualBoard(interpreter=mpy64, rtc_drift_ppm=0)


def test_a_power_cut_of_hours_resumes_from_the_floor_and_keys_follow_it(esp32like, boot_board, radio, fleet):
    world = World()
    vb = boot_board(radio=radio, interpreter="esp32like", rtc_drift_ppm=0, bolt=1.0)
    setter = set_up(vb, fleet, world)
    vb.elapse(2 * 3600)  # the chip has run two hours on this battery: its RTC reads 7200
    world.ahead_s += 2 * 3600
    session(vb, setter, world.now())  # the set writes the floor (and the offset)
    set_at = lock_clock(vb)
    staff_since_before = issue(fleet, vb.lock_id, wire.ROLE_STAFF, not_before=set_at - 3600,
                               not_after=set_at + 2 * DAY_S, keyfile=False)
    time.sleep(4)  # the lock runs on past its floor (written every 10 minutes)
    before_cut = lock_clock(vb)
    assert before_cut >= set_at + 3

    vb.power_cut()
    world.ahead_s += 5 * 3600  # five hours without power: the RTC is gone
    vb.power_on()
    # The RTC restarted from its epoch; the clock resumed from the floor (not from where it was):
    # the lock's time is the floor plus what the RTC counted since the power came back.
    resumed = lock_clock(vb) - int(vb.rtc_reading())
    # (On the host's clock it would have run on: resumed >= before_cut.)
    assert set_at - 15 <= resumed <= set_at + 1 < before_cut
    late_s = world.now() - lock_clock(vb)
    assert 5 * 3600 <= late_s <= 5 * 3600 + 60
    # A reset five minutes on keeps the RTC, so the clock runs on from where it resumed (it is
    # not set back to the floor again, losing those minutes).
    vb.elapse(300)
    world.ahead_s += 300
    assert abs((world.now() - lock_clock(vb)) - late_s) <= 5

    now = world.now()
    valid_now_only = issue(fleet, vb.lock_id, wire.ROLE_STAFF, not_before=now - 3600, not_after=now + DAY_S,
                           keyfile=False)
    expired_before_floor = issue(fleet, vb.lock_id, wire.ROLE_STAFF, not_before=set_at - 7200,
                                 not_after=set_at - 3600, keyfile=False)
    # (A refused HELLO is untagged: reported as the lock's claim, whatever the client's class.)
    with pytest.raises(LockError) as err:
        session(vb, valid_now_only)  # valid in the world, not yet by the lock's late clock
    assert err.value.status == Status.KEY_NOT_YET_VALID
    with pytest.raises(LockError) as err:
        session(vb, expired_before_floor)  # the restarted RTC revives nothing
    assert err.value.status == Status.KEY_EXPIRED

    # A staff key valid at the floor time moves the clock forward within the rules.
    lagging = lock_clock(vb)
    visit(vb, staff_since_before, world)
    assert FORWARD_S - 2 <= lock_clock(vb) - lagging <= FORWARD_S + 5
    with pytest.raises(AuthError) as err:
        session(vb, staff_since_before, lock_clock(vb) + FORWARD_S + 60)
    assert err.value.status == Status.CLOCK_REFUSED
    # An admin brings it to the world's time; then the key valid now works.
    session(vb, setter, world.now())
    assert abs(lock_clock(vb) - world.now()) <= 2
    session(vb, valid_now_only)


def test_a_reset_keeps_the_rtc_across_hours(esp32like, boot_board, radio, fleet):
    """What survives a reset: the RTC (the clock is not set back to its floor), unlike power."""
    world = World()
    vb = boot_board(radio=radio, interpreter="esp32like", rtc_drift_ppm=0)
    set_up(vb, fleet, world)
    vb.elapse(3 * 3600)  # three hours on the chip's RTC, then a reset
    world.ahead_s += 3 * 3600
    assert abs(lock_clock(vb) - world.now()) <= 3
    vb.elapse(300)  # under the floor's 10-minute interval: the RTC, not the floor, is read
    world.ahead_s += 300
    assert abs(lock_clock(vb) - world.now()) <= 3


def test_a_day_at_two_percent_drift_is_kept_within_bounds_by_visits(esp32like, boot_board, radio, fleet):
    world = World()
    vb = boot_board(radio=radio, interpreter="esp32like", rtc_drift_ppm=TWO_PERCENT_SLOW)
    setter = set_up(vb, fleet, world)
    carer = issue(fleet, vb.lock_id, wire.ROLE_STAFF, not_before=world.now() - 3600,
                  not_after=world.now() + 3 * DAY_S, keyfile=False)

    # Without visits: a day at 2 % slow leaves the lock 28.8 minutes behind.
    vb.elapse(DAY_S)
    world.ahead_s += DAY_S
    lag = world.now() - lock_clock(vb)
    assert abs(lag - 0.02 * DAY_S) <= 10, lag  # 1728 s
    session(vb, setter, world.now())

    # A day with a visit every three hours: the lock lags 216 s before each, ~0 after.
    lags_before, lags_after = [], []
    for _ in range(8):
        vb.elapse(3 * 3600)
        world.ahead_s += 3 * 3600
        lags_before.append(world.now() - lock_clock(vb))
        visit(vb, carer, world)
        lags_after.append(world.now() - lock_clock(vb))
    assert all(abs(lag - 0.02 * 3 * 3600) <= 10 for lag in lags_before), lags_before
    assert all(lag <= CLOCK_LAG_S for lag in lags_after), lags_after
