# The auth back-off against ticks_ms()'s horizon: ticks_diff reads at most half a period ahead
# (2**29 ms, 6.2 days, on an ESP32), and a lock without a sleep policy stays awake for weeks.
# The virtual board cannot wait days, so the last failure's tick is set as it would read then.

import time

import wire
from test_auth import _auth


def _ticks_ago(ms):
    """ticks_ms() as it read `ms` ago (ticks_add takes less than half a period at a time)."""
    ticks = time.ticks_ms()
    while ms:
        step = min(ms, _period() // 2 - 1)
        ticks = time.ticks_add(ticks, -step)
        ms -= step
    return ticks


def _period():
    return time.ticks_add(0, -1) + 1  # 2**30 on an ESP32 (MICROPY_PY_TIME_TICKS_PERIOD)


def test_failures_more_than_half_a_ticks_period_ago_are_forgiven():
    auth = _auth()
    for _ in range(6):
        auth.failed(wire.STATUS_BAD_TAG)
    assert auth.backoff_ms() == 1000
    auth._last_failure = _ticks_ago(_period() // 2 + 60_000)  # a week of quiet on an ESP32
    assert auth.backoff_ms() == 0, "a week-old burst still slowed a valid key"
    assert auth._failures == 0


def test_failures_a_few_seconds_ago_still_count():
    auth = _auth()
    for _ in range(6):
        auth.failed(wire.STATUS_BAD_TAG)
    auth._last_failure = _ticks_ago(5_000)
    assert auth.backoff_ms() == 1000
