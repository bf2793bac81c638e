"""The virtual board: the unchanged firmware on the MicroPython unix port, wired to a model.

The firmware process finds the simulated `machine` (sim/mpy/machine.py) on its module path.
Each pin, PWM and ADC call is a line over a Unix socket to this harness, which advances the
physical model (physics.Circuit) to the moment of the call and answers from it. The flash
filesystem is a directory, kept across restarts; the serial console is the process's stdio,
or, with serial=True, a pty that behaves to mpremote as an ESP32's serial port (sim/serial.py).
"""

from __future__ import annotations

import hashlib
import json
import os
import queue
import random
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from ..boards import board_path, load_board
from ..errors import VirtualBoardError
from . import build
from . import serial as serial_io
from .ble import BleBridge
from .pins import PinBank
from .radio import VirtualRadio

_READY_TIMEOUT_S = 15.0  # boot on the unix port takes ~50 ms; generous for a loaded CI machine
_COMMAND_TIMEOUT_S = 30.0  # the longest command, a self-test, takes under 5 s
_WATCHDOG_POLL_S = 0.05
_INTERRUPT_WAIT_S = 0.5  # serial mode: input after a Ctrl-C waits this long for the interrupt
_RESET_CAUSE = {"power_on": 1, "hard": 2, "watchdog": 3, "deepsleep": 4, "soft": 5}

MPY_DIR = Path(__file__).parent / "mpy"
_BOOT_SCRIPT = "_boot.py"  # serial mode's boot (sim/mpy/_boot.py): run as a script, not compiled
_RAW_BANNER = b"raw REPL; CTRL-B to exit\r\n"
_FRIENDLY_BANNER = b'Type "help()" for more information.'


class VirtualBoard:
    """One virtual lock. Use as a context manager, or call start() and close().

    Args:
        board: name of a board file under boards/.
        flash_dir: the board's flash filesystem; a temporary directory if None.
        heap_kb: the firmware's GC heap (an ESP32 with BLE active has about 96 KiB free). The
            process gets this plus sim_heap, what the simulated machine, bluetooth and esp32
            modules take (measured at start): C in flash on a board, MicroPython here.
        echo: called with every line the firmware prints that is not a console answer.
        heap_trace: collect garbage at every hardware call and keep the live-heap peak in
            heap_peak (for benchmarks: it slows the firmware down).
        radio: the virtual radio to join (several locks share one); a radio of its own if None.
        lock_id: the id provision() gives the lock; random ("HL-" + 6 hex digits) if None.
            Until provisioned over the console, the lock calls itself after its chip id.
        serial: the console is a serial port (a pty, its path in serial_port) that behaves to
            mpremote like an ESP32 running MicroPython: REPL, raw REPL and raw-paste, Ctrl-C,
            soft and hard reset, the flash behind `mpremote fs`. The board boots as one does:
            boot.py, then main.py from the flash, then the REPL. Off: the console is the
            process's stdin/stdout and the firmware runs from the build directory.
        factory_image: in serial mode, flash the firmware (install_firmware()) at start();
            False starts a blank unit, which boots to the REPL.
        interpreter: the MicroPython to run: "mpy64", "esp32like" (32-bit, single floats) or
            a binary's path; HEMLAS_MICROPYTHON's choice if None (sim.build says more).
        ticks_start_ms: time.ticks_ms() at every boot (a chip's reads 0), e.g. 2**30 - 20_000 to
            run across its wrap; only the ESP32-like interpreter can (sim.build.check_ticks_start).
    """

    def __init__(self, board: str = "virtual", flash_dir: str | Path | None = None,
                 heap_kb: int = 96, echo=None, seed: int | None = None, heap_trace: bool = False,
                 radio: VirtualRadio | None = None, lock_id: str | None = None,
                 power_policy: dict | None | str = "board", serial: bool = False,
                 factory_image: bool = True, interpreter: str | None = None,
                 ticks_start_ms: int | None = None):
        self.board_name = board
        self.micropython = build.micropython_executable(interpreter)
        if ticks_start_ms is not None:
            build.check_ticks_start(self.micropython, ticks_start_ms)
        self.ticks_start_ms = ticks_start_ms
        self.board = load_board(board)
        # "board": the board file's own power policy; None (always awake) or a dict of
        # awake_ms/sleep_ms: that policy instead, added to the board file on the flash.
        self._policy_override = power_policy
        if power_policy != "board":
            self.board["power"]["policy"] = power_policy
        self.heap_kb = heap_kb
        self.sim_heap = 0  # bytes: measured by start()
        self.boot_heap = 0  # bytes the serial mode's boot holds under main.py: measured by start()
        self._heap_trace = heap_trace
        self._echo = echo
        self._random = random.Random(seed)
        self.lock_id = lock_id or "HL-%06X" % random.SystemRandom().getrandbits(24)
        self._own_radio = radio is None
        self.radio = radio or VirtualRadio()
        # A random static address (top bits 11), stable for the lock across restarts.
        digest = hashlib.sha256(self.lock_id.encode()).digest()
        self.address = ":".join(f"{b:02X}" for b in bytes([digest[0] | 0xC0]) + digest[1:6])
        self._event_lock = threading.Lock()
        self._own_flash = flash_dir is None
        self._tmp = Path(tempfile.mkdtemp(prefix="hemlas-vb-"))
        self.flash_dir = Path(flash_dir) if flash_dir else self._tmp / "flash"
        self.flash_dir.mkdir(parents=True, exist_ok=True)
        # One build cache per interpreter: the heap costs measured at start() are its own.
        self._build_dir = Path(tempfile.gettempdir()) / f"hemlas-mpy-{os.getuid()}" / build.interpreter_tag(self.micropython)
        self._socket_path = str(self._tmp / "hw.sock")
        self.pins = PinBank(self.board, time.monotonic(), self._send_irq, self.lock_id)
        self.ble = BleBridge(self.radio, self.address, self._send_event,
                             lambda adv, conns, interval_ms: self.pins.set_radio(
                                 adv, conns, time.monotonic(), interval_ms))
        self._wake = threading.Event()  # a button press that ends a deep sleep
        self._sleep_generation = 0  # a power cut ends a sleep: its wake-up must not boot
        self.wakes = 0
        self._lock = self.pins.lock
        self._proc: subprocess.Popen | None = None
        self._replies: dict[str, queue.Queue] = {}  # console answers, by command name
        self._ready = threading.Event()
        self._ready_info: dict = {}
        self._command_locks: dict[str, threading.Lock] = {}
        self._evt_sock: socket.socket | None = None
        self._server: socket.socket | None = None
        self._closing = False
        self._cut: set[int] = set()  # pids of processes whose power was cut on purpose
        self._powered = False
        self._pending_cause = "power_on"
        self.reset_cause = _RESET_CAUSE["power_on"]
        self.output: list[str] = []  # everything the firmware printed besides answers
        self.boots = 0
        self.heap_peak = 0  # the firmware's GC heap high-water mark, bytes
        self.crashed: str | None = None
        self._wdt_deadline: float | None = None
        self._wdt_timeout = 0.0
        self.serial = serial
        self._factory_image = factory_image
        self.serial_port: str | None = None  # the port's device path, in serial mode
        self._port: serial_io.SerialPort | None = None
        self._console_fd: int | None = None  # the running process's pty (serial mode)
        self._console_lock = threading.Lock()
        self._repl_mode = "friendly"  # the REPL's mode ("raw" after Ctrl-A): a soft reset keeps it
        self._at_repl = threading.Event()  # the REPL is up (no program running)
        self._interrupt_deadline = 0.0  # input waits until then for a Ctrl-C to be taken

    # ---- life cycle -------------------------------------------------------------------

    def __enter__(self) -> "VirtualBoard":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def start(self) -> dict:
        """Flash the board file, start the hardware server and power the board on."""
        if not self.serial:
            self._flash_board_file()
        build.compile_firmware(self._build_dir / "fw")
        # The simulated machine is compiled too: a real board's machine is C and costs no heap.
        build.compile_modules(sorted(p for p in MPY_DIR.glob("*.py") if p.name != _BOOT_SCRIPT),
                              self._build_dir / "sim")
        self.sim_heap = build.sim_modules_heap(self._build_dir / "sim", self.micropython)
        if self.serial:
            build.compile_modules([MPY_DIR / _BOOT_SCRIPT], self._build_dir / "sim", keep_source={_BOOT_SCRIPT})
            self.boot_heap = serial_io.boot_heap(self.micropython, self._build_dir / "sim",
                                                 self._build_dir / "sim" / _BOOT_SCRIPT)
            if self._factory_image:
                self.install_firmware()
            self._port = serial_io.SerialPort(self._from_port)
            self.serial_port = self._port.path
        self._server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._server.bind(self._socket_path)
        self._server.listen(4)
        threading.Thread(target=self._accept_loop, daemon=True).start()
        threading.Thread(target=self._watchdog_loop, daemon=True).start()
        return self.power_on()

    def _flash_board_file(self) -> None:
        shutil.copyfile(board_path(self.board_name), self.flash_dir / "board.py")
        if self._policy_override != "board":
            with open(self.flash_dir / "board.py", "a") as f:
                f.write(f"\nBOARD[\"power\"][\"policy\"] = {self._policy_override!r}  # the virtual board's override\n")

    def install_firmware(self) -> list[str]:
        """Flash the unit as the factory does: the compiled firmware (.mpy, main.py as source)
        and the board file, into the flash directory. Returns the file names. (Pipe mode runs
        the firmware from the build directory and needs only the board file in the flash.)"""
        names = []
        for path in build.compile_firmware(self._build_dir / "fw"):
            shutil.copyfile(path, self.flash_dir / path.name)
            names.append(path.name)
        self._flash_board_file()
        return names + ["board.py"]

    def close(self) -> None:
        self._closing = True
        self._kill()
        if self._port:
            self._port.close()
        if self._server:
            # Wake the accept() first: a thread blocked in it would otherwise outlive close()
            # and accept on whatever socket reuses the descriptor -- the next board's, which
            # it would then serve with this board's (closed) radio.
            try:
                self._server.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self._server.close()
        if self._own_radio:
            self.radio.close()
        if self._own_flash:
            shutil.rmtree(self._tmp, ignore_errors=True)
        else:
            shutil.rmtree(self._tmp / "hw.sock", ignore_errors=True)

    def power_on(self, cause: str = "power_on") -> dict:
        """Apply power: the firmware boots; returns its ready line (boot time, state)."""
        with self._lock:
            if self._powered:
                raise VirtualBoardError("the board is already powered")
            self._powered = True
            self.pins.set_powered(True, time.monotonic())
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

    def _spawn(self) -> None:
        if self.serial:
            self._spawn_serial()
            return
        self.reset_cause = _RESET_CAUSE[self._pending_cause]
        self._pending_cause = "hard"
        self._ready.clear()
        self._wdt_deadline = None
        env = dict(os.environ)
        build.set_ticks_start(env, self.ticks_start_ms)
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

    def wait_ready(self, timeout: float = _READY_TIMEOUT_S) -> dict:
        deadline = time.monotonic() + timeout
        while not self._ready.wait(0.05):
            if time.monotonic() < deadline and (self.running or self._proc is None):
                continue
            raise VirtualBoardError("the firmware did not come up", "\n".join(self.output[-20:]))
        return self._ready_info

    def provision(self, store, reprovision: bool = False) -> str:
        """Provision this lock as a technician would: over its serial console, into store."""
        from ..provisioning import provision

        boots = self.boots
        lock_id = provision(self.command, store, self.board_name, self._ready_info.get("firmware", ""),
                            self.lock_id, reprovision)
        deadline = time.monotonic() + _READY_TIMEOUT_S
        while self.boots == boots and time.monotonic() < deadline:
            time.sleep(0.02)  # the lock restarts with its new identity
        self.wait_ready()
        return lock_id

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    # ---- the serial console -----------------------------------------------------------

    def command(self, line: str, timeout: float = _COMMAND_TIMEOUT_S) -> dict:
        """Send one console command and return its answer.

        Commands of different names may run at once from several threads (a status while a
        lock runs); answers are matched to commands by name.
        """
        words = line.split()
        if not words:
            raise VirtualBoardError("empty command")
        name = words[0]
        with self._lock:
            replies = self._replies.setdefault(name, queue.Queue())
            name_lock = self._command_locks.setdefault(name, threading.Lock())
        with name_lock:
            proc = self._proc
            if self.serial:
                if not self.running or not self._ready.is_set():
                    raise VirtualBoardError("the firmware is not running (the board is at its REPL or resetting)",
                                            "\n".join(self.output[-20:]))
            elif not self.running or proc is None or proc.stdin is None:
                raise VirtualBoardError("the firmware is not running", "\n".join(self.output[-20:]))
            while not replies.empty():
                replies.get_nowait()  # a late answer to an earlier, timed-out command
            try:
                if self.serial:
                    self._to_console(line.encode() + b"\n")
                else:
                    assert proc is not None and proc.stdin is not None
                    proc.stdin.write(line.encode() + b"\n")
                    proc.stdin.flush()
            except OSError as err:
                raise VirtualBoardError(f"the firmware died before {line!r}") from err
            deadline = time.monotonic() + timeout
            while True:
                try:
                    return replies.get(timeout=0.1)
                except queue.Empty:
                    if not self.running:
                        raise VirtualBoardError(f"the firmware died during {line!r}",
                                                "\n".join(self.output[-20:])) from None
                    if time.monotonic() > deadline:
                        raise VirtualBoardError(f"no answer to {line!r}") from None

    def _read_output(self, proc: subprocess.Popen) -> None:
        assert proc.stdout is not None
        for raw in proc.stdout:
            self._take_line(raw.decode(errors="replace").rstrip("\n"))
        code = proc.wait()
        self._on_exit(proc, code)

    def _take_line(self, text: str) -> None:
        """One line the firmware printed: a console answer, its ready line, or other output."""
        if text.startswith("@{"):
            try:
                answer = json.loads(text[1:])
            except ValueError:
                self.output.append(text)
                return
            if "ready" in answer:
                self._ready_info = answer
                self._at_repl.clear()
                self._ready.set()
            else:
                with self._lock:
                    replies = self._replies.setdefault(str(answer.get("cmd")), queue.Queue())
                replies.put(answer)
            return
        self.output.append(text)
        if self._echo:
            self._echo(text)

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

    def _deep_sleep(self, sleep_ms: int) -> None:
        """The firmware called machine.deepsleep(): microamps until the timer or the button,
        then the chip's own start-up (board power["boot_ms"]) at full current, then a boot."""
        with self._lock:
            self._sleep_generation += 1
            generation = self._sleep_generation
            self._wake.clear()
            self.pins.set_sleep(True, time.monotonic())
        threading.Thread(target=self._sleep_then_wake, args=(generation, sleep_ms), daemon=True).start()

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

    # ---- serial mode: the board's serial port --------------------------------------------

    def _spawn_serial(self) -> None:
        """Boot as a board does: sim/mpy/_boot.py runs boot.py and main.py from the flash, then
        the unix port's REPL (-i) takes the console, on a pty of its own."""
        cause = self._pending_cause
        self.reset_cause = _RESET_CAUSE[cause]
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
                 "-i", str(self._build_dir / "sim" / _BOOT_SCRIPT)],
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
                self._port.send(cook(data))
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
                        self._interrupt_deadline = time.monotonic() + _INTERRUPT_WAIT_S
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

    def _wait_boot(self, timeout: float = _READY_TIMEOUT_S) -> dict:
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

    # ---- the hardware server ------------------------------------------------------------

    def _accept_loop(self) -> None:
        assert self._server is not None
        while not self._closing:
            try:
                conn, _ = self._server.accept()
            except OSError:
                return
            if self._closing:
                conn.close()
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        reader = conn.makefile("rb")
        hello = reader.readline().split()
        if hello[-1:] == [b"evt"]:
            self._evt_sock = conn
            return  # events flow the other way; the socket stays open
        try:
            self._serve_requests(conn, reader)
        except OSError:
            pass  # the firmware process died mid-request: a power cut
        finally:
            conn.close()

    def _serve_requests(self, conn: socket.socket, reader) -> None:
        for raw in reader:
            text = raw.decode()
            if text.startswith("heap "):
                heap, _, text = text.partition(";")
                self.heap_peak = max(self.heap_peak, int(heap.split()[1]))
            words = text.split()
            if words == ["exit"] and self.serial:
                self._end_interpreter(conn)
                continue
            if words and words[-1].startswith("#"):  # raw data follows the line
                data = reader.read(int(words[-1][1:]))
                words[-1] = data.hex() or "-"
            if words[0].startswith("ble_"):
                try:
                    answer = self.ble.handle(words)  # not under the pin lock: it waits on the radio
                except (ValueError, KeyError, IndexError, VirtualBoardError) as err:
                    answer = f"!{type(err).__name__}: {err}"
                conn.sendall(answer.encode() + b"\n")
                continue
            try:
                with self._lock:
                    answer = self.pins.handle(words, time.monotonic())
                    if words[0] == "wdt_start":
                        self._wdt_timeout = int(words[1]) / 1000
                    if words[0] in ("wdt_start", "wdt_feed"):
                        self._wdt_deadline = time.monotonic() + self._wdt_timeout
                    if words[0] == "reset_cause":
                        answer = str(self.reset_cause)
            except (ValueError, KeyError, IndexError) as err:
                answer = f"!{type(err).__name__}: {err}"
            conn.sendall(answer.encode() + b"\n")
            if self.pins.browned_out:
                self.pins.browned_out = False
                self._brownout()

    def _send_irq(self, pin: int) -> None:
        self._send_event(f"irq {pin}")

    def _send_event(self, line: str) -> None:
        """An IRQ for the firmware: pin edges from the hands' threads, BLE from the radio's."""
        sock = self._evt_sock
        if sock is None:
            return
        with self._event_lock:
            try:
                sock.sendall(line.encode() + b"\n")
            except OSError:
                pass  # the firmware is gone: a power cut

    def _brownout(self) -> None:
        """The supply sagged below what the MCU needs: it resets, as a real one would."""
        proc = self._proc
        self.pins.restart_requested = "hard"
        if proc and proc.poll() is None:
            proc.send_signal(signal.SIGKILL)

    def _watchdog_loop(self) -> None:
        while not self._closing:
            time.sleep(_WATCHDOG_POLL_S)
            deadline = self._wdt_deadline
            if deadline is not None and time.monotonic() > deadline and self.running:
                self._wdt_deadline = None
                self.pins.restart_requested = "watchdog"
                proc = self._proc
                if proc:
                    proc.send_signal(signal.SIGKILL)

    # ---- what a test does with its hands ------------------------------------------------

    def press_button(self, hold_s: float = 0.3, bounce: int = 4) -> float:
        """Press and release the button in the background; return the press time (monotonic)."""
        start = time.monotonic()
        threading.Thread(target=self._press, args=(hold_s, bounce), daemon=True).start()
        return start

    def _press(self, hold_s: float, bounce: int) -> None:
        wake = self.pins.wake_ext0
        pressed_level = 0 if self.board["button_active_low"] else 1
        if self.pins.asleep and wake and wake[0] == self.board["pins"]["button"] and wake[1] == pressed_level:
            self._wake.set()  # the RTC watches the pin in deep sleep
        for edge in range(bounce * 2 + 1):  # ends pressed: an odd count of level changes
            with self._lock:
                self.pins.set_button(edge % 2 == 0, time.monotonic())
            time.sleep(self._random.uniform(0.0003, 0.002))
        time.sleep(hold_s)
        for edge in range(bounce * 2 + 1):  # ends released
            with self._lock:
                self.pins.set_button(edge % 2 == 1, time.monotonic())
            time.sleep(self._random.uniform(0.0003, 0.002))

    def bounce_storm(self, edges: int = 200, end_pressed: bool = False) -> None:
        """Contact noise: many edges within a few milliseconds (a failing switch, ESD)."""
        for i in range(edges):
            with self._lock:
                self.pins.set_button(i % 2 == 0, time.monotonic())
            time.sleep(self._random.uniform(0.00005, 0.0004))
        with self._lock:
            self.pins.set_button(end_pressed, time.monotonic())

    def led_timeline(self, since: float = 0.0) -> list[tuple[float, str, bool]]:
        """(seconds since `since`, "green"/"red", on) for every LED change after `since`."""
        with self._lock:
            return [(t - since, name, on) for t, name, on in self.pins.leds if t >= since]

    def motor_timeline(self, since: float = 0.0) -> list[tuple[float, int, float]]:
        with self._lock:
            return [(t - since, d, duty) for t, d, duty in self.pins.circuit.bolt.history if t >= since]

    def set_battery(self, state: str | None = None, soc: float | None = None) -> float:
        """Put in a fresh, low or fully discharged cell (or one at a given charge); return its charge."""
        with self._lock:
            self.pins.advance(time.monotonic())
            circuit = self.pins.circuit
            cfg = self.board["battery"]
            if soc is None:
                targets = {
                    "fresh": None,
                    "low": (cfg["low_mv"] + cfg["critical_mv"]) / 2,
                    "discharged": (cfg["critical_mv"] + self.board["power"]["brownout_mv"]) / 2,
                }
                if state not in targets:
                    raise VirtualBoardError(f"battery state must be one of {sorted(targets)}")
                target = targets[state]
                soc = 1.0 if target is None else circuit.soc_for_loaded_mv(target)
            circuit.cell.soc = soc
            circuit.settle(time.monotonic())
            return soc

    def battery_mv(self) -> float:
        with self._lock:
            self.pins.advance(time.monotonic())
            return self.pins.circuit.supply_mv

    def jam(self, at: float = 0.5) -> None:
        with self._lock:
            self.pins.advance(time.monotonic())
            self.pins.circuit.bolt.set_jam(at)

    def clear_jam(self) -> None:
        with self._lock:
            self.pins.circuit.bolt.set_jam(None)

    def set_bolt(self, position: float) -> None:
        with self._lock:
            self.pins.advance(time.monotonic())
            self.pins.circuit.bolt.position = position

    @property
    def bolt_position(self) -> float:
        with self._lock:
            self.pins.advance(time.monotonic())
            return self.pins.circuit.bolt.position
