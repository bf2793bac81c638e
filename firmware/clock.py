# The lock's clock, which decides whether a key is valid (docs/security.md, "Clock").
#
# lock time = RTC + offset, never earlier than the last time kept in flash: after a power cut
# an ESP32's RTC restarts from its epoch, and a clock that fell back could revive expired keys.
# It then runs on from that floor, late by the outage, until a client moves it forward.

import time

from micropython import const

_FLOOR_EVERY_S = const(600)  # how often the floor is written: flash wear against lateness
MAX_FORWARD_S = const(600)  # how far a non-admin session may move the clock forward at once


class Clock:
    def __init__(self, store):
        self._store = store
        self._offset = store.get("clock_offset", 0)
        self._floor = store.get("clock_floor", 0)
        if self._rtc() + self._offset < self._floor:
            # Resume from the floor, and run on; kept at once: the RTC restarted, so the old
            # offset is wrong, and a reset before the next keep() would fall back to the floor.
            self._offset = self._floor - self._rtc()
            store.update(clock_offset=self._offset)

    @staticmethod
    def _rtc():
        return int(time.time())

    def now(self):
        t = self._rtc() + self._offset
        return t if t > self._floor else self._floor

    def set(self, new_time):
        """Move the clock to new_time (either way: the caller has checked who may)."""
        self._offset = new_time - self._rtc()
        self._floor = new_time
        self._store.update(clock_offset=self._offset, clock_floor=new_time)

    def keep(self):
        """Write the floor if it is stale; called now and then (never goes backwards)."""
        now = self.now()
        if now - self._floor >= _FLOOR_EVERY_S:
            self._floor = now
            self._store.update(clock_floor=now, clock_offset=self._offset)
