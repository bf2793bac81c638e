# Issue 13, finding 3: guessing in bursts, each after a quiet minute (which forgives the
# back-off), must not fill the event log: the log's own hourly bound holds whatever the auth
# layer's per-burst counting does. A real EventLog under a real Auth.

import struct

import wire
from auth import Auth
from eventlog import EventLog
from fakes import FakeStore
from fwtest import fresh_dir
from test_auth import LOCK, SECRET, FixedClock, hello_frame
from test_auth_ticks import _ticks_ago


def _guess(auth, n):
    key = wire.derive_key(bytes(32), LOCK, 1, wire.ROLE_STAFF, 0, 2_000_000)  # a wrong secret
    frame, payload = hello_frame(key, 1, wire.ROLE_STAFF, 0, 2_000_000, LOCK, wire.derive_advertising_key(SECRET))
    for _ in range(n):
        auth.backoff_ms()
        auth.hello(frame, payload)


def test_guessing_in_bursts_after_quiet_minutes_writes_a_bounded_number_of_records():
    directory = fresh_dir("bursts")
    log = EventLog(directory + "/log", segments=8, segment_records=64, clock=lambda: 1000)
    auth = Auth(LOCK, SECRET, FixedClock(), log, FakeStore())
    for _ in range(40):  # forty bursts in what the ticks call one hour
        _guess(auth, 10)
        auth._last_failure = _ticks_ago(61_000)  # a quiet minute since
    written = log.next_seq - 1
    assert written <= 12, "%d records from guessing within an hour" % written
