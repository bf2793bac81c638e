"""The virtual board's power: the battery in and out, the power policy's deep sleep and its
wakes (timer, button or the knock sensor's INT1, then the chip's own start-up), a brown-out's
reset and the watchdog; and the knock sensor's clock, which runs whatever the MCU does.
"""

from __future__ import annotations

import signal
import threading
import time

from ..errors import VirtualBoardError

WATCHDOG_POLL_S = 0.05
SENSOR_POLL_S = 0.01  # the knock sensor is run this often: INT1's edges are this late at most


class Power:
    """The part of VirtualBoard that applies and removes power and sleeps and wakes the chip."""

    def power_on(self, cause: str = "power_on") -> dict:
        """Apply power: the firmware boots; returns its ready line (boot time, state)."""
        with self._lock:
            if self._powered:
                raise VirtualBoardError("the board is already powered")
            self._powered = True
            self.pins.set_powered(True, time.monotonic())
            self.pins.sensor.power_on(time.monotonic())  # on the battery too: a power-on reset
        self._pending_cause = cause
        self._spawn()
        if self.serial:
            return self._wait_boot()
        return self.wait_ready()

    def power_cut(self) -> None:
        """Pull the battery: the firmware process dies at once, wherever it is."""
        with self._lock:
            self._powered = False
            self._sleep_generation += 1
            self.pins.rtc_memory = b""  # RTC memory needs power too
            if self.rtc is not None:
                self.rtc.power_lost()  # and so does the RTC timer
            self.pins.set_sleep(False, time.monotonic())
        self._kill()
        self.pins.set_powered(False, time.monotonic())

    def swap_battery(self, state: str = "fresh") -> None:
        """A technician's battery swap: the old cell out (the power goes), another one in (a new
        cell, or a "low" or "discharged" one: a wrong or depleted replacement), power back."""
        self.power_cut()
        with self._lock:
            circuit = self.pins.circuit
            circuit.cell = type(circuit.cell)(circuit.cell.cfg)
        self.set_battery(state)
        self.power_on()

    @property
    def asleep(self) -> bool:
        """In the power policy's deep sleep (or booting out of it)."""
        return self.pins.asleep or self.pins.booting

    def wait_awake(self, timeout: float = 60.0) -> dict:
        """Wait for the next wake (or return at once if awake); the ready line."""
        deadline = time.monotonic() + timeout
        while self.asleep or not self.running:
            if time.monotonic() > deadline:
                raise VirtualBoardError("the lock did not wake", "\n".join(self.output[-20:]))
            time.sleep(0.01)
        return self.wait_ready(max(0.1, deadline - time.monotonic()))

    def charge_used_mah(self) -> float:
        """What the battery model has delivered since its cell went in."""
        with self._lock:
            self.pins.advance(time.monotonic())
            return self.pins.circuit.cell.used_mah

    def supply_current_ma(self) -> float:
        """The current the battery delivers now: what a multimeter in series with it reads."""
        with self._lock:
            self.pins.advance(time.monotonic())
            return self.pins.circuit.total_ma

    def _deep_sleep(self, sleep_ms: int) -> None:
        """The firmware called machine.deepsleep(): microamps until the timer or the button,
        then the chip's own start-up (board power["boot_ms"]) at full current, then a boot."""
        with self._lock:
            self._sleep_generation += 1
            generation = self._sleep_generation
            self._wake.clear()
            self.pins.set_sleep(True, time.monotonic())
            self._wake_if_armed()  # level-triggered: a pin already at its level wakes it at once
        threading.Thread(target=self._sleep_then_wake, args=(generation, sleep_ms), daemon=True).start()

    def _wake_if_armed(self, seen: set[tuple[int, int]] = frozenset()) -> None:
        """Asleep, an armed wake pin at its level (now, or in passing: seen) ends the sleep."""
        if self.pins.asleep and not self._wake.is_set():
            kind = self.pins.wake_due(seen)
            if kind:
                self.pins.wake_kind = kind  # the wake reason the chip reports (machine.wake_reason)
                self._wake.set()

    def _sensor_loop(self) -> None:
        """The knock sensor samples at its own ODR, awake or asleep: run it in wall time."""
        while not self._closing:
            time.sleep(SENSOR_POLL_S)
            with self._lock:
                if self._powered:
                    self._wake_if_armed(self.pins.tick(time.monotonic()))

    def _sleep_then_wake(self, generation: int, sleep_ms: int) -> None:
        by_button = self._wake.wait(sleep_ms / 1000 if sleep_ms > 0 else None)
        with self._lock:
            if generation != self._sleep_generation or self._closing:
                return  # the power went while it slept
            self.pins.wake_reason = 2 if by_button else 4  # EXT0_WAKE, TIMER_WAKE
            self.pins.set_sleep(False, time.monotonic(), booting=True)
        time.sleep(self.board["power"]["boot_ms"] / 1000)
        with self._lock:
            if generation != self._sleep_generation or self._closing:
                return
            self.pins.set_sleep(False, time.monotonic())
            self.wakes += 1
            self._pending_cause = "deepsleep"
            self._spawn()

    def hang(self) -> None:
        """The CPU stops making progress (a dead event loop: a handler that never returns, a
        hung call): the firmware process is frozen. The chip's watchdog is a hardware timer and
        fires regardless, when the firmware has not fed it within its timeout."""
        proc = self._proc
        if proc is None or proc.poll() is not None:
            raise VirtualBoardError("the firmware is not running")
        proc.send_signal(signal.SIGSTOP)

    def _brownout(self) -> None:
        """The supply sagged below what the MCU needs: it resets, as a real one would."""
        proc = self._proc
        self.pins.restart_requested = "hard"
        if proc and proc.poll() is None:
            proc.send_signal(signal.SIGKILL)

    def _watchdog_loop(self) -> None:
        while not self._closing:
            time.sleep(WATCHDOG_POLL_S)
            deadline = self._wdt_deadline
            if deadline is not None and time.monotonic() > deadline and self.running:
                self._wdt_deadline = None
                self.pins.restart_requested = "watchdog"
                proc = self._proc
                if proc:
                    proc.send_signal(signal.SIGKILL)
