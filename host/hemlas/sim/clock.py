"""The virtual board's clock: the chip's RTC, as the firmware's time.time() reads it.

On an ESP32, MicroPython's time.time() is the system time (ports/esp32/modtime.c:
gettimeofday), which ESP-IDF keeps on the RTC timer (CONFIG_ESP_TIME_FUNCS_USE_RTC_TIMER): it
counts from 0 at power-up, and "any reset/sleep mode, except for the power-up reset, will not
stop or reset the RTC Timer" (Espressif's binding text, Zephyr's espressif,esp32-rtc-timer), so
it runs on through deep sleep and resets and is lost with the battery. The ESP32 port counts
from 2000-01-01 (MICROPY_EPOCH_IS_2000, py/mpconfig.h's default), so after power-on the chip
believes it is 2000-01-01 00:00 and time.time() reads 0. The RTC timer runs on the RTC slow
clock: the internal ~150 kHz RC oscillator (RC_SLOW, ESP-IDF "Clock Tree"; its exact frequency
is found by calibration), of which ESP-IDF says "as frequency stability is affected by
temperature fluctuations, time may drift in both Deep-sleep and Light-sleep modes" (percent, as
the issue measured), or an external 32.768 kHz crystal (XTAL32K: a crystal's tens of ppm,
seconds a day). Here it runs at 1 + drift_ppm / 1e6 of the host's monotonic clock.

The interpreter reads it through third_party/micropython/time-rtc.patch: MICROPY_RTC_START is
the RTC's reading when the process starts, MICROPY_RTC_DRIFT_PPM its rate; the harness computes
the start at each boot from its own model (ChipRtc). Only the ESP32-like build has the patch:
on mpy64 the board keeps the host's wall clock (VirtualBoard(rtc_drift_ppm=None)).
"""

from __future__ import annotations

import os
import signal
import subprocess
import time

from ..errors import VirtualBoardError

RTC_START_ENV = "MICROPY_RTC_START"
RTC_DRIFT_ENV = "MICROPY_RTC_DRIFT_PPM"
_PROBE_START_S = 123456
_rtc_checked: dict[tuple, str] = {}  # binary (path, size, mtime) -> "" or why not


def check_rtc(executable: str) -> None:
    """Raise VirtualBoardError unless the interpreter's time.time() is the simulated RTC (asked,
    not assumed: run once with MICROPY_RTC_START set, it must answer with that value)."""
    stat = os.stat(executable)
    key = (executable, stat.st_size, stat.st_mtime_ns)
    if key not in _rtc_checked:
        env = dict(os.environ, **{RTC_START_ENV: str(_PROBE_START_S), RTC_DRIFT_ENV: "0"})
        try:
            out = subprocess.run([executable, "-c", "import time; print(time.time())"], env=env,
                                 capture_output=True, text=True, timeout=10).stdout.split()
        except (OSError, subprocess.TimeoutExpired) as err:
            out = [str(err)]
        ok = out and out[0].isdigit() and abs(int(out[0]) - _PROBE_START_S) <= 2
        _rtc_checked[key] = "" if ok else (
            f"{executable} keeps the host's wall clock: only the ESP32-like interpreter "
            "(./dev.sh builds it with third_party/micropython/time-rtc.patch) simulates the RTC")
    if _rtc_checked[key]:
        raise VirtualBoardError(_rtc_checked[key])


class ChipRtc:
    """The RTC timer of one chip: lost with the power, kept across resets and deep sleep.

    Times are the harness's (time.monotonic()); readings are the chip's seconds since its epoch.
    """

    def __init__(self, drift_ppm: float = 0.0, epoch_s: float = 0.0):
        if not -1e6 < drift_ppm < 1e6:
            raise VirtualBoardError(f"RTC drift {drift_ppm} ppm: must be between -999999 and 999999")
        self.drift_ppm = drift_ppm
        self.epoch_s = epoch_s  # what it reads at power-on: 0 on an ESP32
        self._anchor: tuple[float, float] | None = None  # (reading, harness time), while powered
        self.power_ons = 0

    @property
    def rate(self) -> float:
        return 1.0 + self.drift_ppm / 1e6

    def read(self, now: float) -> float:
        """The RTC's reading at harness time now; from its epoch if the power just came."""
        if self._anchor is None:
            self._anchor = (self.epoch_s, now)
            self.power_ons += 1
        reading, since = self._anchor
        return reading + (now - since) * self.rate

    def power_lost(self) -> None:
        """The battery went: the RTC stops and restarts from its epoch with the power."""
        self._anchor = None

    def elapse(self, seconds: float, now: float) -> None:
        """Time compression: `seconds` of the world's time pass for the RTC at once; it runs
        through them at its own rate, seconds * (1 + drift), as it does awake or asleep."""
        reading = self.read(now)
        self._anchor = (reading + seconds * self.rate, now)

    def environment(self, env: dict, now: float) -> None:
        """The interpreter's environment for a boot at harness time now."""
        env[RTC_START_ENV] = f"{self.read(now):.6f}"
        env[RTC_DRIFT_ENV] = repr(float(self.drift_ppm))


def clear_environment(env: dict) -> None:
    """The host's wall clock: no RTC variables, never ones inherited."""
    env.pop(RTC_START_ENV, None)
    env.pop(RTC_DRIFT_ENV, None)


class BoardClock:
    """The part of VirtualBoard that keeps the chip's RTC (self.rtc: a ChipRtc, or None for the
    host's wall clock) and hands it to each boot."""

    def _clock_environment(self, env: dict) -> None:
        if self.rtc is None:
            clear_environment(env)
        else:
            self.rtc.environment(env, time.monotonic())

    def rtc_reading(self) -> float:
        """What the chip's RTC reads now (seconds since its epoch; since power-on at 0 ppm)."""
        if self.rtc is None:
            raise VirtualBoardError("this board keeps the host's wall clock (rtc_drift_ppm=None)")
        return self.rtc.read(time.monotonic())

    def elapse(self, seconds: float, timeout: float = 30.0) -> dict:
        """Time compression: `seconds` of the world's time pass for the powered chip at once.
        Its RTC moves on by seconds * (1 + drift) (as it runs, awake or in deep sleep); the host's
        clock does not, so a test keeps its own world time (host time plus what it let elapse).
        The interpreter reads its RTC at boot, so the chip is reset (a reset keeps the RTC, as
        machine.reset() does on an ESP32) and this returns the ready line of its boot."""
        if self.rtc is None:
            raise VirtualBoardError("elapse() needs the chip's RTC (rtc_drift_ppm=...)")
        if seconds < 0:
            raise VirtualBoardError("time does not run backwards")
        if not self.running:
            raise VirtualBoardError("elapse() needs a running firmware (power_on() first)")
        with self._lock:
            self.rtc.elapse(seconds, time.monotonic())
            self.pins.restart_requested = "hard"
        boots = self.boots
        proc = self._proc
        if proc and proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
        deadline = time.monotonic() + timeout
        while self.boots == boots:
            if time.monotonic() > deadline:
                raise VirtualBoardError("the chip did not restart", "\n".join(self.output[-20:]))
            time.sleep(0.01)
        return self.wait_ready(max(0.1, deadline - time.monotonic()))
