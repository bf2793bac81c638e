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

    def sleep(self):
        app = self._app
        app.hw.rtc_memory(app.charge.sleep_state().encode())
        # An open door wakes the lock when it becomes left open (door.py): one wake more.
        ms = self.door.sleep_ms(self.sleep_ms) if self.door else self.sleep_ms
        app.hw.deep_sleep(ms)  # does not return: the chip boots again on waking
