# The power policy between visits (the board file's power["policy"]; docs/battery.md).
#
# MicroPython on an ESP32 cannot light-sleep with the radio up, and awake with BLE on it draws
# tens of mA: days, not months, on a battery. So a lock that must stay reachable all day
# cycles: awake and advertising for a short window, then in deep sleep (microamps) until a
# timer or the button wakes it, when it boots afresh with its state from flash and RTC memory.
# A client finds the lock in its next window: the sleep is the latency the policy adds.
# Anything going on keeps the lock awake: a connection, a motor run, a self-test, a console
# command; the window counts from the last of them.

import asyncio
import time

from micropython import const

_CHECK_MS = const(50)
_BENCH_S = const(4 * 3600)  # "power stay" outlasts resets and wakes this long at most


class PowerPolicy:
    def __init__(self, app, policy):
        self._app = app
        self.awake_ms = policy["awake_ms"] if policy else 0
        self.sleep_ms = policy["sleep_ms"] if policy else 0  # 0: always awake
        self.stay_awake = False  # the serial console's "power stay": bench work
        # After a knock: awake this long for the carer's phone (board: knock_awake_ms).
        self.knock_ms = policy.get("knock_awake_ms", 0) if policy else 0
        self._window = self.awake_ms
        self.door = None  # the knock sensor's door watch (door.py), where the board has one
        self._advertised = False
        self._last = time.ticks_ms()

    def bench(self, on):
        """The console's "power stay" (on) and "power auto": bench work keeps the lock awake
        across its resets and wakes (kept in flash), for _BENCH_S at most and never past a
        power-on: a battery put in, at the customer's door, starts the policy."""
        self.stay_awake = on
        self._app.store.update(bench=time.time() + _BENCH_S if on else 0)

    def resume(self, powered_on):
        until = self._app.store.get("bench", 0)
        if until and (powered_on or time.time() >= until):
            self.bench(False)
        else:
            self.stay_awake = bool(until)

    def activity(self):
        self._last = time.ticks_ms()

    def advertising(self):
        """The radio's first advertisement: the window counts from here, not from boot (a
        window spent starting BLE is one in which nobody can find the lock)."""
        if not self._advertised:
            self._advertised = True
            self._last = time.ticks_ms()

    def knocked(self):
        """Someone knocked: awake and advertising for knock_ms from now."""
        self._window = max(self._window, self.knock_ms)
        self._last = time.ticks_ms()

    def _busy(self):
        app = self._app
        return self.stay_awake or app.charge.connections or app.lock.busy or app.busy

    async def run(self):
        if not self.sleep_ms:
            return
        while True:
            await asyncio.sleep_ms(_CHECK_MS)
            if self._busy():
                self.activity()
            elif self._advertised and time.ticks_diff(time.ticks_ms(), self._last) >= self._window:
                self.sleep()

    def sleep(self, ms=0):
        """Deep sleep for the policy's sleep (or ms: the bench's `power sleep`)."""
        app = self._app
        app.hw.rtc_memory(app.charge.sleep_state().encode())
        ms = ms or self.sleep_ms
        # An open door wakes the lock when it becomes left open (door.py): one wake more.
        if self.door:
            ms = self.door.sleep_ms(ms)
        app.hw.deep_sleep(ms)  # does not return: the chip boots again on waking
