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


def _status_of(fn, *args):
    try:
        fn(*args)
    except ValueError as err:
        return err.args[0]
    raise AssertionError("no ValueError")


def test_frame_round_trip():
    frame = wire.encode_frame(wire.OP_LOG_READ, 7, 42, b"\x01\x00\x00\x00\x10")
    assert len(frame) == wire.FRAME_HEADER_SIZE + 5 + wire.TAG_SIZE
    assert wire.decode_frame(frame) == (wire.OP_LOG_READ, 7, 42, b"\x01\x00\x00\x00\x10", bytes(16))


def test_broken_frames_get_their_status():
    frame = wire.encode_frame(wire.OP_STATUS, 1, 2)
    assert _status_of(wire.decode_frame, frame[:-1]) == wire.STATUS_MALFORMED
    assert _status_of(wire.decode_frame, frame + b"x") == wire.STATUS_MALFORMED
    assert _status_of(wire.decode_frame, b"") == wire.STATUS_MALFORMED
    assert _status_of(wire.decode_frame, b"\x01" + frame[1:]) == wire.STATUS_UNSUPPORTED_VERSION
    assert _status_of(wire.decode_frame, bytes(wire.MAX_RESPONSE + 1)) == wire.STATUS_TOO_LARGE
    assert _status_of(wire.encode_frame, wire.OP_STATUS, 0, 0, bytes(wire.MAX_RESPONSE)) == wire.STATUS_TOO_LARGE
    assert wire.peek_counter(frame) == (1, 2)


def test_payload_size_is_checked():
    fmt = wire.REQUEST_FORMATS[wire.OP_LOG_READ]
    assert wire.unpack_payload(fmt, b"\x05\x00\x00\x00\x03") == (5, 3)
    assert _status_of(wire.unpack_payload, fmt, b"\x05") == wire.STATUS_BAD_REQUEST


def _roundtrip(frame, mtu):
    parts = wire.fragment(frame, mtu)
    assert all(len(p) <= mtu - 3 for p in parts)
    r = wire.Reassembler()
    out = [r.feed(p) for p in parts]
    assert out[:-1] == [None] * (len(parts) - 1)
    return bytes(out[-1]), len(parts)  # a view of the reassembly buffer: copy it to keep it


def test_fragments_at_default_and_large_mtu():
    frame = wire.encode_frame(wire.OP_LOCK, 3, 9, bytes(range(100)))
    assert _roundtrip(frame, 23) == (frame, 7)  # 128 bytes in 19-byte chunks
    assert _roundtrip(frame, 247) == (frame, 1)
    big = wire.encode_frame(wire.OP_LOG_READ | wire.RESPONSE_BIT, 0, 1, bytes(400))
    r = wire.Reassembler(wire.MAX_RESPONSE)  # the host's: a whole LOG_READ page
    out = [r.feed(p) for p in wire.fragment(big, 23)]
    assert bytes(out[-1]) == big


def test_out_of_order_and_orphan_fragments_are_refused():
    frame = wire.encode_frame(wire.OP_STATUS, 0, 1, bytes(30))
    parts = wire.fragment(frame, 23)
    r = wire.Reassembler()
    r.feed(parts[0])
    assert _status_of(r.feed, parts[2]) == wire.STATUS_FRAGMENT_ORDER
    assert not r.pending
    assert _status_of(r.feed, parts[1]) == wire.STATUS_FRAGMENT_ORDER  # no start: orphan
    assert _status_of(r.feed, b"") == wire.STATUS_MALFORMED
    assert _roundtrip(frame, 23)[0] == frame  # and the channel still works


def test_a_new_start_cuts_short_the_pending_frame():
    frame = wire.encode_frame(wire.OP_STATUS, 0, 1, bytes(30))
    parts = wire.fragment(frame, 23)
    r = wire.Reassembler()
    r.feed(parts[0])
    out = [r.feed(p) for p in parts]
    assert bytes(out[-1]) == frame and r.cut_short == 1


def test_oversized_stream_is_refused_without_buffering_it_all():
    r = wire.Reassembler(max_frame=100)
    r.feed(bytes((wire.FRAGMENT_FIRST,)) + bytes(60))
    assert _status_of(r.feed, bytes((1,)) + bytes(60)) == wire.STATUS_TOO_LARGE
    assert not r.pending


def test_hmac_sha256_matches_rfc_4231_case_2():
    mac = wire.hmac_sha256(b"Jefe", b"what do ya want for nothing?")
    assert mac == bytes.fromhex("5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")


def test_keys_are_bound_to_every_field():
    secret = bytes(range(32))
    base = wire.derive_key(secret, "HL-000001", 7, wire.ROLE_STAFF, 100, 200)
    assert len(base) == 32
    variants = [
        wire.derive_key(secret, "HL-000002", 7, wire.ROLE_STAFF, 100, 200),
        wire.derive_key(secret, "HL-000001", 8, wire.ROLE_STAFF, 100, 200),
        wire.derive_key(secret, "HL-000001", 7, wire.ROLE_ADMIN, 100, 200),
        wire.derive_key(secret, "HL-000001", 7, wire.ROLE_STAFF, 99, 200),
        wire.derive_key(secret, "HL-000001", 7, wire.ROLE_STAFF, 100, 201),
        wire.derive_key(bytes(32), "HL-000001", 7, wire.ROLE_STAFF, 100, 200),
    ]
    assert base not in variants and len(set(variants)) == len(variants)


def test_tags_depend_on_direction_and_content():
    key = bytes(32)
    frame = wire.encode_frame(wire.OP_UNLOCK, 5, 1)
    request = wire.with_tag(frame, wire.tag(key, wire.TAG_REQUEST, frame))
    assert wire.check_tag(key, wire.TAG_REQUEST, request)
    assert not wire.check_tag(key, wire.TAG_RESPONSE, request)  # no reflection
    tampered = bytearray(request)
    tampered[1] = wire.OP_LOCK
    assert not wire.check_tag(key, wire.TAG_REQUEST, bytes(tampered))
    assert wire.equal(b"abc", b"abc") and not wire.equal(b"abc", b"abd") and not wire.equal(b"a", b"ab")
