"""The virtual board's firmware process: the MicroPython interpreter that runs the unchanged
firmware, spawned with its environment and build directories, watched for its ready line, its
exit (a crash, or the restart the firmware or the hardware asked for) and killed at a power cut.

Pipe mode's console is the process's stdin/stdout (console.py); serial mode spawns it on a pty
of its own (serial_board.py).
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from pathlib import Path

from ..errors import VirtualBoardError
from . import build

READY_TIMEOUT_S = 15.0  # boot on the unix port takes ~50 ms; generous for a loaded CI machine
RESET_CAUSE = {"power_on": 1, "hard": 2, "watchdog": 3, "deepsleep": 4, "soft": 5}
MPY_DIR = Path(__file__).parent / "mpy"
BOOT_SCRIPT = "_boot.py"  # serial mode's boot (sim/mpy/_boot.py): run as a script, not compiled


class FirmwareProcess:
    """The part of VirtualBoard that starts, watches and ends the interpreter's process."""

    def _spawn(self) -> None:
        if self.serial:
            self._spawn_serial()
            return
        self.reset_cause = RESET_CAUSE[self._pending_cause]
        self._pending_cause = "hard"
        self._ready.clear()
        self._wdt_deadline = None
        env = dict(os.environ)
        build.set_ticks_start(env, self.ticks_start_ms)
        self._clock_environment(env)  # the chip's RTC, or the host's clock
        # .frozen holds the port's built-in Python modules (asyncio); "" is the flash dir (cwd).
        env["MICROPYPATH"] = f"{self._build_dir / 'sim'}:.frozen:{self._build_dir / 'fw'}:"
        env["HEMLAS_SIM_SOCKET"] = self._socket_path
        if self._heap_trace:
            env["HEMLAS_SIM_HEAP_TRACE"] = "1"
        self._proc = subprocess.Popen(
            [self.micropython, "-X", f"heapsize={self.heap_kb * 1024 + self.sim_heap}",
             str(self._build_dir / "fw" / "main.py")],
            cwd=self.flash_dir, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, bufsize=0,
        )
        self.boots += 1
        proc = self._proc
        threading.Thread(target=self._read_output, args=(proc,), daemon=True).start()

    def _kill(self) -> None:
        proc = self._proc
        if proc:
            self._cut.add(proc.pid)  # its exit is no crash and asks for no restart
        if proc and proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
        with self._lock:
            self.pins.power_lost(time.monotonic())
        self.ble.power_lost()

    def wait_ready(self, timeout: float = READY_TIMEOUT_S) -> dict:
        deadline = time.monotonic() + timeout
        while not self._ready.wait(0.05):
            if time.monotonic() < deadline and (self.running or self._proc is None):
                continue
            raise VirtualBoardError("the firmware did not come up", "\n".join(self.output[-20:]))
        return self._ready_info

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def _read_output(self, proc: subprocess.Popen) -> None:
        assert proc.stdout is not None
        for raw in proc.stdout:
            self._take_line(raw.decode(errors="replace").rstrip("\n"))
        code = proc.wait()
        self._on_exit(proc, code)

    def _on_exit(self, proc: subprocess.Popen, code: int) -> None:
        if proc is self._proc:
            self.ble.power_lost()
        with self._lock:
            self.pins.power_lost(time.monotonic())
            restart = (self._powered and not self._closing and proc is self._proc
                       and proc.pid not in self._cut)
            requested = self.pins.restart_requested
            self.pins.restart_requested = None
        if not restart:
            return
        if requested == "deepsleep":
            self._deep_sleep(self.pins.sleep_ms or 0)
        elif requested:
            self._pending_cause = requested
            self._spawn()
        elif self.serial and (code >= 0 or code == -signal.SIGINT):
            # The interpreter ended on its own: Ctrl-D or sys.exit() at the REPL, which a board
            # answers with a soft reset. (Also 1: a second Ctrl-C before the first was taken; -SIGINT:
            # a Ctrl-C in the instant the unix port had no handler: on a board both are no more
            # than a KeyboardInterrupt, here the nearest the harness can give is a soft reset.)
            self._pending_cause = "soft"
            self._spawn()
        elif code != 0:
            self.exit_code = code
            self.crashed = "\n".join(self.output[-20:])  # like an ESP32 dropping to the REPL
