import os

import wire
from eventlog import EventLog
from fwtest import FakeClock, fresh_dir


def _segments(path):
    return sorted(n for n in os.listdir(path) if n.endswith(".log"))


def test_append_and_read_back():
    d = fresh_dir()
    log = EventLog(d, clock=FakeClock(500))
    assert log.append(wire.EVENT_BOOT, (1, 2)) == 1
    assert log.append(wire.EVENT_LOCKED, (600, 3500, 1)) == 2
    records = log.read(0)
    assert records == [(1, 500, wire.EVENT_BOOT, (1, 2)), (2, 500, wire.EVENT_LOCKED, (600, 3500, 1))]
    assert log.read(2) == records[1:]
    assert log.read(3) == []


def test_sequence_continues_after_reopen():
    d = fresh_dir()
    log = EventLog(d, segments=4, segment_records=3)
    for i in range(7):
        log.append(wire.EVENT_BATTERY, (i,))
    log = EventLog(d, segments=4, segment_records=3)
    assert log.next_seq == 8
    assert log.append(wire.EVENT_BATTERY, (7,)) == 8
    assert [r[3][0] for r in log.read(0, 100)] == list(range(8))


def test_bounded_drops_oldest_segment_first():
    d = fresh_dir()
    log = EventLog(d, segments=3, segment_records=4)
    for i in range(30):
        log.append(wire.EVENT_BATTERY, (i,))
    assert len(_segments(d)) == 3
    seqs = [r[0] for r in log.read(0, 100)]
    assert seqs == list(range(seqs[0], 31))
    assert 12 >= len(seqs) > 8  # between two and three full segments
    assert log.first_seq == seqs[0]


def test_read_limit_and_from_seq_across_segments():
    d = fresh_dir()
    log = EventLog(d, segments=5, segment_records=4)
    for i in range(18):
        log.append(wire.EVENT_BATTERY, (i,))
    assert [r[0] for r in log.read(6, 5)] == [6, 7, 8, 9, 10]


def test_torn_tail_at_every_offset_keeps_earlier_records():
    d = fresh_dir()
    log = EventLog(d, segments=4, segment_records=100)
    for i in range(5):
        log.append(wire.EVENT_BATTERY, (i, i * 2))
    path = d + "/" + _segments(d)[-1]
    with open(path, "rb") as f:
        whole = f.read()
    record = len(wire.encode_record(0, 0, wire.EVENT_BATTERY, (0, 0)))
    torn_from = len(whole) - record  # the last record is the one being written
    for cut in range(torn_from, len(whole)):
        with open(path, "wb") as f:
            f.write(whole[:cut])
        reopened = EventLog(d, segments=4, segment_records=100)
        assert [r[0] for r in reopened.read(0)] == [1, 2, 3, 4], cut
        assert reopened.recovered_bytes == cut - torn_from
        # The torn bytes are cut off; the next record follows the last whole one.
        assert reopened.append(wire.EVENT_BATTERY, (99, 0)) == 5
        assert [r[0] for r in reopened.read(0)] == [1, 2, 3, 4, 5]
        assert _segments(d) == ["00000001.log"]  # repaired in place, no segment wasted


def test_leftover_repair_file_is_removed():
    d = fresh_dir()
    EventLog(d).append(wire.EVENT_BATTERY, (1,))
    with open(d + "/00000001.log.tmp", "wb") as f:
        f.write(b"partial")
    log = EventLog(d)
    assert [r[0] for r in log.read(0)] == [1]
    assert sorted(os.listdir(d)) == ["00000001.log"]


def test_garbage_segment_is_skipped_not_fatal():
    d = fresh_dir()
    log = EventLog(d, segments=4, segment_records=2)
    for i in range(4):
        log.append(wire.EVENT_BATTERY, (i,))
    with open(d + "/" + _segments(d)[0], "wb") as f:
        f.write(b"\xff" * 40)  # flash corruption in an old segment
    log = EventLog(d, segments=4, segment_records=2)
    assert [r[0] for r in log.read(0)] == [3, 4]
    assert log.append(wire.EVENT_BATTERY, (4,)) == 5


def _noise_log():
    from eventlog import EventLog

    return EventLog(fresh_dir("noise"), segments=4, segment_records=8, clock=lambda: 1000)


def test_noise_is_bounded_per_hour_and_counted_in_one_record():
    log = _noise_log()
    for _ in range(1000):  # a radio flood: failed attempts and faults
        log.append(wire.EVENT_AUTH_FAILED, (wire.STATUS_BAD_TAG, 0))
        log.append(wire.EVENT_FAULT, (wire.FAULT_TASK, 0))
    records = log.read(0, 100)
    assert len(records) <= 12, "no more than 12 noise records an hour"
    counted = sum(r[3][0] for r in records if r[2] == wire.EVENT_AUTH_SUPPRESSED)
    assert log._noise[2] + counted + len(records) - (1 if counted else 0) == 2000  # none unaccounted


def test_noise_never_pushes_out_unsynced_visits():
    log = _noise_log()
    visits = [log.append(wire.EVENT_UNLOCKED, (600, 3500, 1, 7)) for _ in range(28)]
    log._noise[1] = -100_000  # as if many hours passed: the hourly bound alone is not the guard
    for _ in range(500):
        log.append(wire.EVENT_AUTH_FAILED, (wire.STATUS_BAD_TAG, 0))
    kept = [r[0] for r in log.read(0, 100) if r[2] == wire.EVENT_UNLOCKED]
    assert kept == visits, "the visits stay until the host has read them"
    log.synced = log.next_seq  # the host synced (LOG_READ from its cursor)
    for _ in range(40):
        log.append(wire.EVENT_AUTH_FAILED, (wire.STATUS_BAD_TAG, 0))
    assert log.first_seq > visits[0], "once synced, old records may make room"
    visit = log.append(wire.EVENT_LOCKED, (600, 3500, 1, 7))
    assert visit and log.read(visit, 1)[0][0] == visit, "a visit always goes in"
