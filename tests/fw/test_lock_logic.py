import asyncio

import wire
from fakes import MOTOR, FakeBolt, FakeLog, FakeMeter, FakeStore, make_battery
from lock import Lock


def _lock(bolt, meter=None):
    log, store = FakeLog(), FakeStore()
    battery = make_battery(meter, log, store)
    return Lock(bolt, bolt, bolt if not bolt.present else bolt, battery, log, store, MOTOR, asyncio.Lock()), log


def test_lock_reaches_end_of_travel():
    bolt = FakeBolt(position=0.0)
    lock, log = _lock(bolt)
    assert lock.read_sensors() == wire.LOCK_UNLOCKED
    assert asyncio.run(lock.request(wire.LOCK_LOCKED)) == wire.STATUS_OK
    assert lock.state == wire.LOCK_LOCKED and bolt.position >= 0.995
    assert log.types() == [wire.EVENT_LOCKED]


def test_request_at_target_does_not_move_but_logs_the_request():
    # docs/protocol.md: "no move needed" is logged as the move's event with attempts 0 (the
    # carer's arrival or departure), and answered with travel 0, not the last move's time.
    bolt = FakeBolt(position=0.0)
    lock, log = _lock(bolt)
    lock.read_sensors()
    assert asyncio.run(lock.request(wire.LOCK_LOCKED, key_id=5)) == wire.STATUS_OK
    assert lock.last_travel_ms > 0
    drives = len(bolt.drives)
    assert asyncio.run(lock.request(wire.LOCK_LOCKED, key_id=7)) == wire.STATUS_OK
    assert len(bolt.drives) == drives and lock.state == wire.LOCK_LOCKED
    assert lock.last_travel_ms == 0
    assert log.events[-1] == (wire.EVENT_LOCKED, (0, 0, 0, 7))
    bolt = FakeBolt(position=0.0)
    lock, log = _lock(bolt)
    lock.read_sensors()
    assert asyncio.run(lock.request(wire.LOCK_UNLOCKED, key_id=9)) == wire.STATUS_OK
    assert bolt.drives == [] and log.events == [(wire.EVENT_UNLOCKED, (0, 0, 0, 9))]


def test_jam_retries_once_then_reports_jammed():
    bolt = FakeBolt(position=0.0, jam_at=0.5)
    lock, log = _lock(bolt)
    assert asyncio.run(lock.request(wire.LOCK_LOCKED)) == wire.STATUS_JAMMED
    assert lock.state == wire.LOCK_JAMMED
    forward = [ms for d, ms in bolt.drives if d > 0]
    assert len(forward) == 2  # the try and the one retry
    assert all(ms <= MOTOR["max_travel_ms"] + 30 for ms in forward)  # one poll and a brake late
    assert log.types() == [wire.EVENT_JAMMED]
    assert log.events[0][1][0] == wire.LOCK_LOCKED


def test_critical_battery_refuses_without_driving():
    bolt = FakeBolt(position=0.0)
    lock, log = _lock(bolt, FakeMeter(2900, 400))
    assert asyncio.run(lock.request(wire.LOCK_LOCKED)) == wire.STATUS_BATTERY_CRITICAL
    assert bolt.drives == [] and bolt.position == 0.0
    assert wire.EVENT_REFUSED_BATTERY in log.types()


def test_second_request_while_moving_is_busy():
    bolt = FakeBolt(position=0.0)
    lock, _ = _lock(bolt)

    async def both():
        first = asyncio.create_task(lock.request(wire.LOCK_LOCKED))
        await asyncio.sleep_ms(20)
        assert lock.state == wire.LOCK_LOCKING
        second = await lock.request(wire.LOCK_UNLOCKED)
        return await first, second

    assert asyncio.run(both()) == (wire.STATUS_OK, wire.STATUS_BUSY)
    assert lock.state == wire.LOCK_LOCKED


def test_bad_target_is_refused():
    lock, _ = _lock(FakeBolt())
    assert asyncio.run(lock.request(wire.LOCK_JAMMED)) == wire.STATUS_BAD_REQUEST


def test_stall_sensing_without_switches():
    bolt = FakeBolt(position=0.0, switches=False)
    lock, _ = _lock(bolt)
    assert lock.read_sensors() == wire.LOCK_UNKNOWN  # no sensor to read: not assumed
    assert asyncio.run(lock.request(wire.LOCK_LOCKED)) == wire.STATUS_OK
    assert lock.state == wire.LOCK_LOCKED and bolt.position >= 0.995


def test_early_stall_without_switches_is_a_jam():
    bolt = FakeBolt(position=0.0, jam_at=0.2, switches=False)
    lock, _ = _lock(bolt)
    assert asyncio.run(lock.request(wire.LOCK_LOCKED)) == wire.STATUS_JAMMED


def test_stall_sensing_after_reset_at_the_stored_end():
    bolt = FakeBolt(position=0.0, switches=False)
    lock, _ = _lock(bolt)
    lock._store.update(lock_state=wire.LOCK_UNLOCKED)  # what the flash said before the reset
    assert lock.read_sensors() == wire.LOCK_UNKNOWN
    assert asyncio.run(lock.request(wire.LOCK_UNLOCKED)) == wire.STATUS_OK  # stalls at once
    assert lock.state == wire.LOCK_UNLOCKED
    assert [d for d, _ in bolt.drives] == [-1]  # it drove: nothing is answered from memory


def test_stall_sensing_hand_turned_bolt_is_not_reported_from_memory():
    bolt = FakeBolt(position=0.0, switches=False)
    lock, _ = _lock(bolt)
    lock._store.update(lock_state=wire.LOCK_UNLOCKED)
    assert asyncio.run(lock.request(wire.LOCK_LOCKED)) == wire.STATUS_OK
    bolt.position = 0.0  # someone turns the bolt back by hand
    assert asyncio.run(lock.request(wire.LOCK_LOCKED)) == wire.STATUS_OK
    assert bolt.position >= 0.995


def test_stall_sensing_power_cut_mid_move_homes_next_time():
    bolt = FakeBolt(position=0.6, switches=False)  # the cut left the bolt mid-travel
    lock, _ = _lock(bolt)
    lock._store.update(lock_state=wire.LOCK_LOCKING)  # what the move wrote before it began
    assert asyncio.run(lock.request(wire.LOCK_LOCKED)) == wire.STATUS_OK
    assert [d for d, _ in bolt.drives] == [-1, 1]
    assert bolt.position >= 0.995


def test_stall_sensing_obstruction_before_min_travel_is_a_jam():
    bolt = FakeBolt(position=0.0, switches=False, jam_at=0.3)
    lock, _ = _lock(bolt)
    lock._store.update(lock_state=wire.LOCK_UNLOCKED)
    assert asyncio.run(lock.request(wire.LOCK_LOCKED)) == wire.STATUS_JAMMED
    assert lock.state == wire.LOCK_JAMMED


def test_stall_sensing_unknown_start_finds_the_other_end_first():
    bolt = FakeBolt(position=0.4, switches=False)  # after a jam, or a new unit
    lock, _ = _lock(bolt)
    assert asyncio.run(lock.request(wire.LOCK_LOCKED)) == wire.STATUS_OK
    assert [d for d, _ in bolt.drives] == [-1, 1]  # home to unlocked, then a whole travel
    assert lock.state == wire.LOCK_LOCKED and bolt.position >= 0.995


def test_stall_sensing_jam_on_the_way_is_still_a_jam():
    bolt = FakeBolt(position=0.0, jam_at=0.3, switches=False)
    lock, _ = _lock(bolt)
    lock._store.update(lock_state=wire.LOCK_UNLOCKED)
    assert asyncio.run(lock.request(wire.LOCK_LOCKED)) == wire.STATUS_JAMMED
