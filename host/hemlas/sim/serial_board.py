"""The virtual board in serial mode: it boots as a board does (boot.py, main.py, then the REPL)
on a pty of its own, bridged to the serial port a tool opens (sim/serial.py cooks the bytes).
Ctrl-C, the REPL's modes across soft resets and the interpreter's end at a soft reset are here.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import threading
import time

from ..errors import VirtualBoardError
from . import build
from . import serial as serial_io
from .firmware_process import BOOT_SCRIPT, READY_TIMEOUT_S, RESET_CAUSE

INTERRUPT_WAIT_S = 0.5  # serial mode: input after a Ctrl-C waits this long for the interrupt
_RAW_BANNER = b"raw REPL; CTRL-B to exit\r\n"
_FRIENDLY_BANNER = b'Type "help()" for more information.'


class SerialBoard:
    """The part of VirtualBoard that is a board's serial port and REPL."""

    def _spawn_serial(self) -> None:
        """Boot as a board does: sim/mpy/_boot.py runs boot.py and main.py from the flash, then
        the unix port's REPL (-i) takes the console, on a pty of its own."""
        cause = self._pending_cause
        self.reset_cause = RESET_CAUSE[cause]
        self._pending_cause = "hard"
        self._ready.clear()
        self._at_repl.clear()
        if cause != "soft":
            self._wdt_deadline = None  # an ESP32's watchdog, once started, outlives a soft reset
        raw = cause == "soft" and self._repl_mode == "raw"  # a board's REPL mode outlives it too
        self._repl_mode = "raw" if raw else "friendly"
        if cause == "soft" and self._port:
            self._port.send(b"MPY: soft reboot\r\n")
        env = dict(os.environ)
        build.set_ticks_start(env, self.ticks_start_ms)
        self._clock_environment(env)  # the chip's RTC, or the host's clock
        # The boot imports the simulated modules from sim, then makes the flash "/" and sys.path
        # a board's: the firmware lives in the flash, as on a board.
        env["MICROPYPATH"] = f"{self._build_dir / 'sim'}:.frozen:"
        env["HEMLAS_SIM_SOCKET"] = self._socket_path
        env["HOME"] = str(self._tmp)  # the unix REPL keeps its line history in $HOME
        env.pop("HEMLAS_SIM_REPL", None)
        if raw:
            env["HEMLAS_SIM_REPL"] = "raw"  # boot.py only, as a board after a raw REPL soft reset
        if self._heap_trace:
            env["HEMLAS_SIM_HEAP_TRACE"] = "1"
        master, slave = serial_io.console_pty()
        try:
            proc = subprocess.Popen(
                [self.micropython, "-X",
                 f"heapsize={self.heap_kb * 1024 + self.sim_heap + self.boot_heap}",
                 "-i", str(self._build_dir / "sim" / BOOT_SCRIPT)],
                cwd=self.flash_dir, env=env, stdin=slave, stdout=slave, stderr=slave,
                start_new_session=True,  # the harness's terminal signals are not the board's
            )
        finally:
            os.close(slave)
        with self._console_lock:
            self._proc = proc
            self._console_fd = master
        self.boots += 1
        threading.Thread(target=self._read_serial, args=(proc, master, raw), daemon=True).start()

    def _read_serial(self, proc: subprocess.Popen, master: int, raw: bool) -> None:
        """The process's output: to the serial port (cooked), and line by line to the console
        watcher (answers, ready line). Ends when the process has gone."""
        cook = serial_io.Cooker()
        partial = b""
        # Restarting into the raw REPL, the unix port starts friendly: the harness types Ctrl-A
        # at its first prompt (not sooner: v1.28's REPL flushes pending input, TCSAFLUSH, as it
        # prompts). A board goes straight to the raw REPL, so that banner is held back.
        held: bytearray | None = bytearray() if raw else None
        ctrl_a_sent = False
        while True:
            try:
                data = os.read(master, 4096)
            except OSError:
                break  # EIO: the process and every descriptor of its pty are gone
            if not data:
                break
            lines = (partial + data).split(b"\n")
            partial = lines.pop()
            for line in lines:
                self._watch_repl(line)
                self._take_line(line.decode(errors="replace").rstrip("\r"))
            if held is not None:
                held += data
                if not ctrl_a_sent and held.find(b">>> ", max(0, held.find(_FRIENDLY_BANNER))) >= 0:
                    os.write(master, b"\x01")
                    ctrl_a_sent = True
                end = held.find(_RAW_BANNER)
                if end < 0:
                    continue
                start = held.rfind(b"MicroPython ", 0, end)
                data = bytes(held[:start] + held[end:]) if start >= 0 else bytes(held)
                held = None
            if self._port:
                cooked = cook(data)
                self._uart_tx.wait(len(cooked))
                self._port.send(cooked)
        with self._console_lock:
            if self._console_fd == master:
                self._console_fd = None
            os.close(master)
        code = proc.wait()
        self._on_exit(proc, code)

    def _watch_repl(self, line: bytes) -> None:
        """Follow the REPL's mode from its banners, as pyexec_mode_kind is on a board."""
        if line.endswith(_RAW_BANNER.rstrip(b"\n")):
            self._repl_mode = "raw"
        elif _FRIENDLY_BANNER in line:
            self._repl_mode = "friendly"
        else:
            return
        self._ready.clear()  # the firmware is not running: commands go nowhere
        self._at_repl.set()

    def _from_port(self, data: bytes) -> None:
        """What a tool writes to the serial port, to the board: Ctrl-C is a KeyboardInterrupt
        while Python code runs, a character at the REPL's prompt (serial_io.interrupt_armed).

        After a Ctrl-C that interrupted code, what follows waits until the interpreter has
        taken the interrupt (its handler is gone: the REPL is up), for at most half a second.
        The unix port may run on for tens of milliseconds before it raises KeyboardInterrupt,
        and a firmware that reads its console in that time eats what was meant for the REPL:
        mpremote sends Ctrl-A right behind its Ctrl-C, and on a pty waits for the raw REPL
        forever. (A board has the same race; it is seldom lost there.)"""
        self._uart_rx.wait(len(data))  # the bytes cross the unit's UART first
        proc = self._proc
        if proc is None:
            return
        while data:
            self._wait_for_interrupt(proc)
            cut = data.find(b"\x03")
            with self._console_lock:
                if self._console_fd is None or proc is not self._proc or proc.poll() is not None:
                    return  # the board is resetting: what arrives now is lost, as on a board
                if cut < 0:
                    self._write_console(data)
                    return
                self._write_console(data[:cut])
                if serial_io.interrupt_armed(proc.pid):
                    try:
                        proc.send_signal(signal.SIGINT)
                        self._interrupt_deadline = time.monotonic() + INTERRUPT_WAIT_S
                    except OSError:
                        pass
                else:
                    self._write_console(b"\x03")
            data = data[cut + 1:]

    def _wait_for_interrupt(self, proc: subprocess.Popen) -> None:
        while (time.monotonic() < self._interrupt_deadline and proc.poll() is None
               and serial_io.interrupt_armed(proc.pid)):
            time.sleep(0.002)
        self._interrupt_deadline = 0.0

    def _to_console(self, data: bytes) -> None:
        with self._console_lock:
            if self._console_fd is None:
                raise OSError("the board is resetting")
            self._write_console(data)

    def _write_console(self, data: bytes) -> None:
        view = memoryview(data)
        while view and self._console_fd is not None:
            try:
                view = view[os.write(self._console_fd, view):]
            except OSError:
                return  # the process went: the rest is lost, as bytes into a resetting board

    def _wait_boot(self, timeout: float = READY_TIMEOUT_S) -> dict:
        """Serial mode's power-on: until the firmware's ready line or the REPL (a blank unit,
        a main.py that ended); the ready line, or {} at the REPL."""
        deadline = time.monotonic() + timeout
        while not (self._ready.is_set() or self._at_repl.is_set()):
            if time.monotonic() > deadline:
                raise VirtualBoardError("the board did not boot", "\n".join(self.output[-20:]))
            time.sleep(0.01)
        return self._ready_info if self._ready.is_set() else {}

    @property
    def at_repl(self) -> bool:
        """Serial mode: the REPL is up (blank unit, interrupted or finished main.py)."""
        return self._at_repl.is_set()

    def _end_interpreter(self, conn: socket.socket) -> None:
        """_boot saw a SystemExit from boot.py or main.py: a board leaves the interpreter for a
        soft reset (or the reset or deep sleep the firmware asked for). The unix port would go on
        to its REPL, so the harness ends the process; _on_exit boots it again."""
        with self._lock:
            if not self.pins.restart_requested:
                self.pins.restart_requested = "soft"
        conn.sendall(b"0\n")
        proc = self._proc
        if proc and proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
