# Access control on the lock (docs/security.md): staff keys verified without storing them,
# one authenticated session per connection, replay protection, revocation, key policy, and a
# back-off that slows guessing without locking valid keys out for long.

import json
import os
import struct
import time

from micropython import const

import wire
from clock import MAX_FORWARD_S
from store import replace_file

_SESSION_IDLE_MS = const(60_000)  # a session unused this long is over
_CHALLENGE_MS = const(10_000)  # the first request must follow HELLO within this (relays)
_FREE_FAILURES = const(3)  # failures before the back-off starts (a typo is not an attack)
_BACKOFF_BASE_MS = const(250)
_BACKOFF_MAX_MS = const(8000)  # the longest a valid key ever waits
_QUIET_MS = const(60_000)  # a minute without failures forgives them
_LOGGED_FAILURES = const(5)  # per burst; then counted, so guessing cannot flush visits out
_MAX_REVOKED = const(64)
_REVOKED_FILE = "revoked.json"


class Session:
    def __init__(self, session_id, key, key_id, role, nonce):
        self.id = session_id
        self.nonce = nonce  # the lock's challenge
        self.key = key  # the HMAC key of the session's tags
        self.cipher = wire.derive_cipher_key(key)  # the AES key of its payloads
        self.key_id = key_id
        self.role = role
        self.counter = 0  # the last request counter seen
        self.started = time.ticks_ms()
        self.used = self.started


class Auth:
    def __init__(self, lock_id, secret, clock, log, store):
        self.lock_id = lock_id
        self._secret = secret  # None until provisioned; never logged, never sent
        # The IRK of the lock's private address and the key of HELLO's fields (the staff key
        # files carry it, never the secret).
        self.advertising_key = wire.derive_advertising_key(secret) if secret else None
        self.clock = clock
        self._log = log
        self._store = store
        self.session = None
        self._failures = 0
        self._last_failure = 0
        self._suppressed = 0
        # Forward clock moves by non-admins: [ticks the hour began, seconds moved in it].
        self._forward = [time.ticks_ms(), 0]
        self._revoked = self._load_revoked()

    @property
    def provisioned(self):
        return self._secret is not None

    # ---- revocation and policy ------------------------------------------------------------

    def _load_revoked(self):
        try:
            with open(_REVOKED_FILE) as f:
                return [tuple(entry) for entry in json.load(f)]
        except (OSError, ValueError, TypeError):
            return []  # none yet (an unreadable list is rebuilt by the next admin push)

    def revoke(self, key_id, not_after):
        """Add a key to the list; return a STATUS_ code."""
        if any(entry[0] == key_id for entry in self._revoked):
            return wire.STATUS_OK
        if len(self._revoked) >= _MAX_REVOKED:
            now = self.clock.now()
            self._revoked = [e for e in self._revoked if e[1] >= now]  # expired keys need no entry
            if len(self._revoked) >= _MAX_REVOKED:
                return wire.STATUS_REVOCATION_FULL
        self._revoked.append((key_id, not_after))
        replace_file(_REVOKED_FILE, json.dumps(self._revoked))
        return wire.STATUS_OK

    @property
    def revoked_count(self):
        return len(self._revoked)

    def _is_revoked(self, key_id):
        if key_id < self._store.get("min_key_id", 0):
            return True
        return any(entry[0] == key_id for entry in self._revoked)

    # ---- back-off and failure logging ------------------------------------------------------

    def backoff_ms(self):
        # ticks_diff sees half a period (6.2 days on an ESP32) ahead at most: a last failure
        # older than that reads as negative, which is just as quiet as a minute ago.
        quiet = time.ticks_diff(time.ticks_ms(), self._last_failure)
        if self._failures and not 0 <= quiet <= _QUIET_MS:
            self._forgive()
        if self._failures <= _FREE_FAILURES:
            return 0
        return min(_BACKOFF_BASE_MS << min(self._failures - _FREE_FAILURES - 1, 8), _BACKOFF_MAX_MS)

    def _forgive(self):
        self._failures = 0
        if self._suppressed:
            self._log.append(wire.EVENT_AUTH_SUPPRESSED, (self._suppressed,))
            self._suppressed = 0

    def failed(self, status, key_id=0):
        self._failures += 1
        self._last_failure = time.ticks_ms()
        if self._failures <= _LOGGED_FAILURES:
            self._log.append(wire.EVENT_AUTH_FAILED, (status, key_id))
        else:
            self._suppressed += 1
        return status

    # ---- sessions ----------------------------------------------------------------------------

    def end_session(self):
        self.session = None

    def hello(self, frame, payload):
        """Check a key and open a session: (status, session or None). payload: the client
        nonce, then the key's fields encrypted (docs/protocol.md), at least one byte of lock id."""
        self.session = None
        if self._secret is None:
            return wire.STATUS_NOT_PROVISIONED, None
        client_nonce = bytes(payload[:wire.NONCE_SIZE])
        fields = wire.crypt(wire.hello_key(self.advertising_key, client_nonce), wire.TAG_HELLO, 0, 0,
                            payload[wire.NONCE_SIZE:])
        fmt = wire.REQUEST_FORMATS[wire.OP_HELLO]
        key_id, role, not_before, not_after = struct.unpack_from(fmt, fields)
        try:
            claimed_lock_id = fields[struct.calcsize(fmt):].decode()
        except UnicodeError:
            claimed_lock_id = ""  # a key for another lock: its fields decrypt to noise
        if claimed_lock_id != self.lock_id:
            return self.failed(wire.STATUS_KEY_WRONG_LOCK), None  # its key id is noise too
        # The tag before the role: a replayed HELLO with its role bits flipped must not learn
        # from the answer which role the key has (every field is in the key, so BAD_TAG).
        key = wire.derive_key(self._secret, self.lock_id, key_id, role, not_before, not_after)
        if not wire.check_tag(key, wire.TAG_HELLO, frame):
            return self.failed(wire.STATUS_BAD_TAG, key_id), None  # not the key's holder
        if role < wire.ROLE_STAFF or role > wire.ROLE_ADMIN:
            return self.failed(wire.STATUS_BAD_REQUEST, key_id), None
        now = self.clock.now()
        if now < not_before:
            return self.failed(wire.STATUS_KEY_NOT_YET_VALID, key_id), None
        if now > not_after:
            return self.failed(wire.STATUS_KEY_EXPIRED, key_id), None
        if self._is_revoked(key_id):
            return self.failed(wire.STATUS_KEY_REVOKED, key_id), None
        session_id = struct.unpack("<I", os.urandom(4))[0] or 1
        lock_nonce = os.urandom(wire.NONCE_SIZE)
        session_key = wire.derive_session_key(key, session_id, client_nonce, lock_nonce)
        self.session = Session(session_id, session_key, key_id, role, lock_nonce)
        # Not a success yet: a recorded HELLO replays as well as a fresh one. It counts as a
        # failure (unlogged) until the first request proves the key (check()).
        self._failures += 1
        self._last_failure = time.ticks_ms()
        return wire.STATUS_OK, self.session

    def check(self, frame, opcode, session_id, counter):
        """A request in the session: STATUS_OK, or why it is refused (and logged)."""
        session = self.session
        if session is None:
            return wire.STATUS_AUTH_REQUIRED
        # Before its first valid request a session may be a replayed HELLO: it names no key.
        key_id = session.key_id if session.counter else 0
        now = time.ticks_ms()
        limit = _SESSION_IDLE_MS if session.counter else _CHALLENGE_MS
        if time.ticks_diff(now, session.used) > limit:
            self.session = None
            return self.failed(wire.STATUS_SESSION_EXPIRED, key_id)
        if session_id != session.id:
            return self.failed(wire.STATUS_REPLAYED, key_id)  # another session's frame
        if not wire.check_tag(session.key, wire.TAG_REQUEST, frame):
            return self.failed(wire.STATUS_BAD_TAG, key_id)
        if counter <= session.counter:
            return self.failed(wire.STATUS_REPLAYED, key_id)
        if not session.counter:  # the first request: the key's holder, so the session counts
            self._forgive()
            self._log.append(wire.EVENT_SESSION, (session.key_id, session.role))
        session.counter = counter
        session.used = now
        if session.role < wire.REQUIRED_ROLE.get(opcode, wire.ROLE_ADMIN):
            return self.failed(wire.STATUS_PERMISSION_DENIED, session.key_id)
        return wire.STATUS_OK

    def sign(self, frame):
        """Tag a frame that goes in the clear (a refusal, HELLO's answer) with the session key:
        untagged when there is no session."""
        if self.session is None:
            return frame
        return wire.with_tag(frame, wire.tag(self.session.key, wire.TAG_CLEAR, frame))

    def open(self, session_id, counter, payload):
        """The plaintext of a request check() accepted."""
        session = self.session
        if session is None:
            raise ValueError(wire.STATUS_AUTH_REQUIRED)
        return wire.crypt(session.cipher, wire.TAG_REQUEST, session_id, counter, payload)

    def seal(self, opcode, session_id, counter, body):
        """The answer to a request check() accepted: encrypted and tagged. If the session
        ended while it was carried out (the link dropped under a motor run), the answer is
        SESSION_EXPIRED alone, untagged: never the body in the clear."""
        session = self.session
        if session is None:
            return wire.encode_frame(opcode, session_id, counter, bytes((wire.STATUS_SESSION_EXPIRED,)))
        return wire.seal(session.key, session.cipher, wire.TAG_RESPONSE, opcode, session_id, counter, body)

    def set_clock(self, new_time):
        """A clock change in the session: admins any way; others forward, a little."""
        session = self.session
        now = self.clock.now()
        if session is None:
            return wire.STATUS_AUTH_REQUIRED
        if session.role < wire.ROLE_ADMIN:
            if time.ticks_diff(time.ticks_ms(), self._forward[0]) >= 60 * _QUIET_MS:  # an hour
                self._forward[0] = time.ticks_ms()
                self._forward[1] = 0
            # Small steps add up: at most 1.5 x MAX_FORWARD_S (15 min) per hour of ticks, or
            # many moves of MAX_FORWARD_S would expire every other key early.
            used = self._forward[1] + new_time - now  # of this hour's budget
            if not now <= new_time <= now + MAX_FORWARD_S or used > MAX_FORWARD_S * 3 // 2:
                return self.failed(wire.STATUS_CLOCK_REFUSED, session.key_id)
            self._forward[1] = used
        self.clock.set(new_time)
        self._log.append(wire.EVENT_CLOCK_SET, (now, new_time, session.key_id))
        return wire.STATUS_OK
