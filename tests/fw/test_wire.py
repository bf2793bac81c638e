import wire
from fwtest import raises


def test_record_round_trip():
    buf = wire.encode_record(7, 123456, wire.EVENT_LOCKED, (640, 3550, 1))
    assert wire.record_size(buf) == len(buf)
    assert wire.decode_record(buf) == (7, 123456, wire.EVENT_LOCKED, (640, 3550, 1))


def test_negative_and_empty_fields():
    buf = wire.encode_record(1, 0, wire.EVENT_FAULT, (-5,))
    assert wire.decode_record(buf)[3] == (-5,)
    buf = wire.encode_record(2, 0, wire.EVENT_BOOT, ())
    assert wire.decode_record(buf)[3] == ()


def test_every_flipped_byte_is_rejected():
    buf = wire.encode_record(9, 99, wire.EVENT_SELFTEST, (3600, 3500, 0, 2500, 1, 3800))
    for i in range(len(buf)):
        bad = bytearray(buf)
        bad[i] ^= 0x40
        assert wire.record_size(bad) == 0, i
        raises(ValueError, wire.decode_record, bad)


def test_every_truncation_is_rejected():
    buf = wire.encode_record(3, 5, wire.EVENT_UNLOCKED, (600, 3500, 2))
    for cut in range(len(buf)):
        assert wire.record_size(buf[:cut]) == 0


def test_too_many_fields_refused():
    raises(ValueError, wire.encode_record, 1, 0, wire.EVENT_FAULT, tuple(range(wire.MAX_FIELDS + 1)))


def test_lock_states_follow_esphome_numbering():
    assert (wire.LOCK_UNKNOWN, wire.LOCK_LOCKED, wire.LOCK_UNLOCKED, wire.LOCK_JAMMED,
            wire.LOCK_LOCKING, wire.LOCK_UNLOCKING) == (0, 1, 2, 3, 4, 5)
