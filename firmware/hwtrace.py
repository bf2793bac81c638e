# A short trace of what the hardware did: LEDs on and off, button presses, motor drive, each
# with its time (ticks_ms). The bench suite (hil_tests/) reads it over serial, so the same
# assertions on the self-test's and the motor's timings hold on a real unit and on the virtual
# board, without an instrument on every LED. Fixed-size buffers: recording never allocates.

import time

from micropython import const

GREEN = const(1)  # value 1 on, 0 off
RED = const(2)
BUTTON = const(3)  # value 1: a press (its first edge)
MOTOR = const(4)  # value 0 off, 1 out (lock), 2 in (unlock), 3 brake
_SIZE = const(64)  # a self-test (~6 events) and five lock/unlock cycles (~20) fit


class Trace:
    def __init__(self):
        self._ticks: list = [0] * _SIZE  # ticks_ms values (small ints: no allocation to store)
        self._events = bytearray(_SIZE)  # kind << 4 | value
        self.count = 0  # events ever recorded: the next one's sequence number

    def add(self, kind, value, ticks=None):
        i = self.count % _SIZE
        self._ticks[i] = time.ticks_ms() if ticks is None else ticks
        self._events[i] = kind << 4 | value
        self.count += 1

    def read(self, since, limit):
        """Up to limit (seq, ticks, kind, value), oldest first, from seq `since` (or the
        oldest still kept)."""
        first = max(since, self.count - _SIZE, 0)
        out = []
        for seq in range(first, min(self.count, first + limit)):
            i = seq % _SIZE
            event = self._events[i]
            out.append((seq, self._ticks[i], event >> 4, event & 15))
        return out
