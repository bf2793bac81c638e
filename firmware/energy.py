# Charge counting. A lithium primary cell holds its voltage until nearly empty, so the voltage
# warns late; the lock also adds up the charge it has drawn since the last registered battery
# swap, from the board's current figures and the time it spends in each power state (awake,
# advertising, connected, asleep) and in each motor run, test load and LED blink.
#
# The count lives in RAM, is written to flash at most hourly and at each swap and motor run,
# and rides through deep sleep in RTC memory (which a power cut clears: then up to an hour
# of counting is lost, a small error against a cell of thousands of mAh).

import time

from micropython import const

import wire

_UA_MS_PER_UAH = const(3_600_000)
_SAVE_EVERY_MS = const(3_600_000)  # flash wear against what a power cut may lose
_RATE_WINDOW_S = const(21_600)  # the usage rate is measured over six-hour windows...
_RATE_WEIGHT = const(4)  # ...each counting a quarter: the rate follows about the last day
_FIRST_RATE_S = const(600)  # before a whole window: the partial one, once this old
_ADV_REFERENCE_MS = const(100)  # the interval the boards' adv_ma figure is given at
_VOLTAGE_TRUSTED_PCT = const(20)  # below this the voltage curve is steep enough to trust


class ChargeMeter:
    def __init__(self, power, capacity_mah, store, clock):
        self._awake_ua = power["active_ma"] * 1000
        self._adv_ua = power["adv_ma"] * 1000
        self._conn_ua = power["conn_ma"] * 1000
        self.sleep_ua = power["sleep_ua"]
        self._capacity_uah = capacity_mah * 1000
        self._store = store
        self._clock = clock
        self.used_uah = store.get("used_uah", 0)
        self.swap_time = store.get("swap_time", 0)
        self._rate = store.get("rate_uah_day", 0)
        self._window = store.get("rate_window") or [clock.now(), self.used_uah]
        self._rest = 0  # uA*ms not yet a whole uAh
        self.advertising = False
        self.adv_interval_ms = 100
        self.connections = 0
        self._mark = time.ticks_ms()
        self._saved = self._mark

    def add(self, ua, ms):
        """Count ua microamps drawn for ms milliseconds."""
        self._rest += int(ua * ms)  # board figures may be fractional
        whole = self._rest // _UA_MS_PER_UAH
        self.used_uah += whole
        self._rest -= whole * _UA_MS_PER_UAH

    def draw_ua(self):
        """The current drawn now, by power state, outside motor runs and loads."""
        if self.connections:
            return self._awake_ua + self._conn_ua
        if not self.advertising:
            return self._awake_ua
        # The board's figure is at a 100 ms interval: each advertising event costs the same
        # charge, so the current goes with the events' rate.
        return self._awake_ua + self._adv_ua * _ADV_REFERENCE_MS // self.adv_interval_ms

    def tick(self):
        """Count the time since the last tick at the present draw; save now and then."""
        now = time.ticks_ms()
        self.add(self.draw_ua(), time.ticks_diff(now, self._mark))
        self._mark = now
        self._roll_window()
        if time.ticks_diff(now, self._saved) >= _SAVE_EVERY_MS:
            self.save()

    def _roll_window(self):
        start, used = self._window
        elapsed = self._clock.now() - start
        if elapsed < _RATE_WINDOW_S:
            return
        rate = (self.used_uah - used) * 86400 // elapsed
        self._rate = rate if not self._rate else (self._rate * (_RATE_WEIGHT - 1) + rate) // _RATE_WEIGHT
        self._window = [self._clock.now(), self.used_uah]

    def rate_uah_per_day(self):
        if self._rate:
            return self._rate
        start, used = self._window
        elapsed = self._clock.now() - start
        return (self.used_uah - used) * 86400 // elapsed if elapsed >= _FIRST_RATE_S else 0

    def save(self):
        self._saved = time.ticks_ms()
        self._store.update(used_uah=self.used_uah, rate_uah_day=self._rate, rate_window=self._window,
                           swap_time=self.swap_time)

    def remaining_uah(self):
        return max(0, self._capacity_uah - self.used_uah)

    def percent(self, voltage_pct):
        """Charge left by the count; the voltage's figure instead where it is low and lower
        (a cell that was not fresh when fitted, or colder than rated, ends early)."""
        counted = (self.remaining_uah() * 100 + self._capacity_uah // 2) // self._capacity_uah
        if voltage_pct < _VOLTAGE_TRUSTED_PCT and voltage_pct < counted:
            return voltage_pct
        return counted

    def days_left(self, percent):
        rate = self.rate_uah_per_day()
        if not rate:
            return wire.DAYS_UNKNOWN
        return min(self._capacity_uah * percent // 100 // rate, wire.DAYS_UNKNOWN - 1)

    def swapped(self):
        """A new battery was registered: the count starts again (the usage rate is the lock's,
        not the battery's, so it stays)."""
        self.tick()
        used = self.used_uah
        self.used_uah = 0
        self._rest = 0
        self.swap_time = self._clock.now()
        self._window = [self.swap_time, 0]
        self.save()
        return used

    # Deep sleep: RAM is lost, RTC memory is kept.
    def sleep_state(self):
        self.tick()
        return "%d %d %d" % (self.used_uah, time.time_ns() // 1_000_000, self._saved_age())

    def _saved_age(self):
        return time.ticks_diff(time.ticks_ms(), self._saved)

    def woke(self, state):
        """Resume from the state kept in RTC memory, adding the sleep's own charge."""
        try:
            used, slept_at, saved_age = (int(w) for w in state.split())
        except ValueError:
            return False
        if used < self.used_uah:
            return False  # older than flash (a swap was registered since): flash wins
        slept_ms = max(0, time.time_ns() // 1_000_000 - slept_at)
        self.used_uah = used
        self.add(self.sleep_ua, slept_ms)
        # Flash is saved hourly across sleeps too: carry the age of the last save.
        self._saved = time.ticks_add(time.ticks_ms(), -min(saved_age + slept_ms, _SAVE_EVERY_MS))
        return True
