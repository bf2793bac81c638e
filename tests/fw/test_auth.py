import struct

import wire
from auth import Auth
from fakes import FakeLog, FakeStore
from fwtest import fresh_dir

SECRET = bytes(range(32))
LOCK = "HL-0000AA"


class FixedClock:
    def __init__(self, now=1_000_000):
        self.t = now

    def now(self):
        return self.t

    def set(self, t):
        self.t = t


def _auth():
    import os

    os.chdir(fresh_dir())  # the revocation list lives in the current directory
    return Auth(LOCK, SECRET, FixedClock(), FakeLog(), FakeStore())


def hello_frame(key, key_id, role, nb, na, lock, adv_key, nonce=bytes(16)):
    """A version-3 HELLO: the nonce, then the fields encrypted under the HELLO key."""
    fields = struct.pack("<IBII", key_id, role, nb, na) + lock.encode()
    payload = nonce + wire.crypt(wire.hello_key(adv_key, nonce), wire.TAG_HELLO, 0, 0, fields)
    frame = wire.encode_frame(wire.OP_HELLO, 0, 0, payload)
    return wire.with_tag(frame, wire.tag(key, wire.TAG_HELLO, frame)), payload


def _hello(auth, key_id=1, role=wire.ROLE_STAFF, nb=0, na=2_000_000, lock=LOCK, secret=SECRET):
    # The advertising key is this lock's (any holder of a key for it has it), the key itself
    # from `secret`: a wrong secret is a forged key.
    key = wire.derive_key(secret, lock, key_id, role, nb, na)
    frame, payload = hello_frame(key, key_id, role, nb, na, lock, wire.derive_advertising_key(SECRET))
    return auth.hello(frame, payload), key


def _request(session, opcode, counter, session_id=None):
    return wire.seal(session.key, session.cipher, wire.TAG_REQUEST, opcode,
                     session.id if session_id is None else session_id, counter, b"")


def test_valid_key_opens_a_session_and_requests_pass():
    auth = _auth()
    (status, session), _ = _hello(auth)
    assert status == wire.STATUS_OK and session.role == wire.ROLE_STAFF
    frame = _request(session, wire.OP_UNLOCK, 1)
    assert auth.check(frame, wire.OP_UNLOCK, session.id, 1) == wire.STATUS_OK


def test_key_rejections_have_their_own_status():
    auth = _auth()
    assert _hello(auth, lock="HL-OTHER")[0][0] == wire.STATUS_KEY_WRONG_LOCK
    assert _hello(auth, secret=bytes(32))[0][0] == wire.STATUS_BAD_TAG
    assert _hello(auth, na=999_999)[0][0] == wire.STATUS_KEY_EXPIRED
    assert _hello(auth, nb=1_000_001)[0][0] == wire.STATUS_KEY_NOT_YET_VALID
    auth.revoke(1, 2_000_000)
    assert _hello(auth, key_id=1)[0][0] == wire.STATUS_KEY_REVOKED
    auth._store.update(min_key_id=10)
    assert _hello(auth, key_id=9)[0][0] == wire.STATUS_KEY_REVOKED
    assert _hello(auth, key_id=10)[0][0] == wire.STATUS_OK
    logged = [e[1][0] for e in auth._log.events if e[0] == wire.EVENT_AUTH_FAILED]
    assert wire.STATUS_KEY_WRONG_LOCK in logged and wire.STATUS_BAD_TAG in logged


def test_replays_and_tampering_are_refused():
    auth = _auth()
    (_, session), _ = _hello(auth)
    first = _request(session, wire.OP_UNLOCK, 1)
    assert auth.check(first, wire.OP_UNLOCK, session.id, 1) == wire.STATUS_OK
    assert auth.check(first, wire.OP_UNLOCK, session.id, 1) == wire.STATUS_REPLAYED
    tampered = bytearray(_request(session, wire.OP_UNLOCK, 2))
    tampered[1] = wire.OP_LOCK
    assert auth.check(bytes(tampered), wire.OP_LOCK, session.id, 2) == wire.STATUS_BAD_TAG
    old = session
    (_, session), _ = _hello(auth)  # a new connection
    replay = _request(old, wire.OP_UNLOCK, 5)
    assert auth.check(replay, wire.OP_UNLOCK, old.id, 5) == wire.STATUS_REPLAYED


def test_roles_limit_requests():
    auth = _auth()
    (_, session), _ = _hello(auth, role=wire.ROLE_STAFF)
    assert auth.check(_request(session, wire.OP_SELFTEST, 1), wire.OP_SELFTEST, session.id, 1) == \
        wire.STATUS_PERMISSION_DENIED
    assert auth.check(_request(session, wire.OP_LOG_READ, 2), wire.OP_LOG_READ, session.id, 2) == \
        wire.STATUS_OK  # staff connections sync the visit record
    assert auth.check(_request(session, wire.OP_REVOKE, 3), wire.OP_REVOKE, session.id, 3) == \
        wire.STATUS_PERMISSION_DENIED
    (_, session), _ = _hello(auth, key_id=2, role=wire.ROLE_ADMIN)
    assert auth.check(_request(session, wire.OP_REVOKE, 1), wire.OP_REVOKE, session.id, 1) == wire.STATUS_OK


def test_clock_only_forward_a_little_without_admin():
    auth = _auth()
    (_, session), _ = _hello(auth)
    now = auth.clock.now()
    assert auth.set_clock(now - 3600) == wire.STATUS_CLOCK_REFUSED  # would revive expired keys
    assert auth.set_clock(now + 86_400) == wire.STATUS_CLOCK_REFUSED
    assert auth.set_clock(now + 300) == wire.STATUS_OK and auth.clock.now() == now + 300
    _hello(auth, key_id=3, role=wire.ROLE_ADMIN)
    assert auth.set_clock(now - 3600) == wire.STATUS_OK


def test_backoff_grows_is_capped_and_forgiven_by_success():
    auth = _auth()
    delays = []
    for _ in range(20):
        _hello(auth, secret=bytes(32))
        delays.append(auth.backoff_ms())
    assert delays[:3] == [0, 0, 0] and delays[3] > 0
    assert delays == sorted(delays) and max(delays) == 8000
    failures = [e for e in auth._log.events if e[0] == wire.EVENT_AUTH_FAILED]
    assert len(failures) == 5  # the rest are counted, so guessing cannot flush the visits out
    (status, session), _ = _hello(auth)
    assert status == wire.STATUS_OK  # a valid key still gets in
    assert auth.backoff_ms() == 8000, "a HELLO answer alone is no success: it may be a replay"
    assert auth.check(_request(session, wire.OP_STATUS, 1), wire.OP_STATUS, session.id, 1) == wire.STATUS_OK
    assert auth.backoff_ms() == 0  # the first tagged request proved the key
    assert (wire.EVENT_AUTH_SUPPRESSED, (15,)) in auth._log.events


def test_a_session_counts_only_once_its_first_request_proves_the_key():
    auth = _auth()
    (status, session), _ = _hello(auth, key_id=7)
    assert status == wire.STATUS_OK
    assert wire.EVENT_SESSION not in auth._log.types(), "a replayed HELLO must not name the key"
    forged = wire.encode_frame(wire.OP_UNLOCK, session.id, 1, b"", bytes(16))
    assert auth.check(forged, wire.OP_UNLOCK, session.id, 1) == wire.STATUS_BAD_TAG
    assert (wire.EVENT_AUTH_FAILED, (wire.STATUS_BAD_TAG, 0)) in auth._log.events
    assert auth.check(_request(session, wire.OP_STATUS, 1), wire.OP_STATUS, session.id, 1) == wire.STATUS_OK
    assert (wire.EVENT_SESSION, (7, wire.ROLE_STAFF)) in auth._log.events


def test_replayed_hellos_count_as_failures_for_the_backoff():
    auth = _auth()
    for _ in range(12):  # a recorded HELLO, replayed: each opens a session never proven
        assert _hello(auth)[0][0] == wire.STATUS_OK
    assert auth.backoff_ms() == 8000
    assert wire.EVENT_SESSION not in auth._log.types()


def test_forward_clock_moves_by_staff_are_capped_per_hour():
    auth = _auth()
    (_, session), _ = _hello(auth)
    auth.check(_request(session, wire.OP_STATUS, 1), wire.OP_STATUS, session.id, 1)
    start = auth.clock.now()
    statuses = [auth.set_clock(auth.clock.now() + 600) for _ in range(144)]
    assert statuses[:1] == [wire.STATUS_OK] and wire.STATUS_CLOCK_REFUSED in statuses
    assert auth.clock.now() - start <= 900, "at most 15 minutes ahead per hour of ticks"


def test_revocation_list_is_persistent_and_bounded():
    auth = _auth()
    for key_id in range(64):
        assert auth.revoke(key_id + 100, 1_500_000) == wire.STATUS_OK
    assert auth.revoke(500, 1_500_000) == wire.STATUS_REVOCATION_FULL
    again = Auth(LOCK, SECRET, FixedClock(), FakeLog(), FakeStore())
    assert again.revoked_count == 64
    again.clock.t = 1_600_000  # the listed keys have all expired: their entries may go
    assert again.revoke(500, 1_700_000) == wire.STATUS_OK and again.revoked_count == 1


def test_unprovisioned_lock_opens_no_session():
    auth = Auth(LOCK, None, FixedClock(), FakeLog(), FakeStore())
    assert _hello(auth)[0] == (wire.STATUS_NOT_PROVISIONED, None)


def test_a_replayed_hello_with_its_role_bits_flipped_learns_nothing_of_the_role():
    # The role byte's ciphertext (after the 16-byte nonce and the 4-byte key id) flipped: the
    # tag no longer matches whatever role it decrypts to, and the answer must not depend on
    # the key's real role (it did when the role was checked before the tag: BAD_REQUEST for
    # staff, whose role 1 flipped in bit 0 is 0, BAD_TAG for the others).
    answers = []
    for role in (wire.ROLE_STAFF, wire.ROLE_TECHNICIAN, wire.ROLE_ADMIN):
        auth = _auth()
        key = wire.derive_key(SECRET, LOCK, 1, role, 0, 2_000_000)
        frame, payload = hello_frame(key, 1, role, 0, 2_000_000, LOCK, wire.derive_advertising_key(SECRET))
        tampered = bytearray(frame)
        tampered[wire.FRAME_HEADER_SIZE + wire.NONCE_SIZE + 4] ^= 0x01
        payload = bytes(tampered[wire.FRAME_HEADER_SIZE:wire.FRAME_HEADER_SIZE + len(payload)])
        answers.append(auth.hello(bytes(tampered), payload)[0])
    assert answers == [wire.STATUS_BAD_TAG] * 3
