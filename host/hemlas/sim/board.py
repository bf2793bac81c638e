"""The virtual board: the unchanged firmware on the MicroPython unix port, wired to a model.

The firmware process finds the simulated `machine` (sim/mpy/machine.py) on its module path.
Each pin, PWM and ADC call is a line over a Unix socket to this harness, which advances the
physical model (physics.Circuit) to the moment of the call and answers from it. The flash
filesystem is a directory, kept across restarts; the serial console is the process's stdio,
or, with serial=True, a pty that behaves to mpremote as an ESP32's serial port (sim/serial.py).

VirtualBoard is the facade; each of its parts has one job, in a module of its own:

- firmware_process.py: spawning the interpreter (env, build dirs), its ready line, crashes, restarts;
- console.py: console commands and their answers;
- serial_board.py: serial mode's boot, REPL and serial port (sim/serial.py cooks the bytes);
- power.py: power on and off, battery swaps, deep sleep and its wakes, brown-out, watchdog;
- hw_server.py: the socket the simulated machine/esp32/bluetooth modules call (pins.py, ble.py);
- hands.py: what a test does to the lock (button, bolt, battery, door) and sees (LEDs, motor);
- door.py: the door and its knock sensor (lis2dw12.py) on the board's I2C bus and INT1 pin.
"""

from __future__ import annotations

import hashlib
import os
import queue
import random
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from ..boards import load_board, unit_board_file
from . import build
from . import serial as serial_io
from .ble import BleBridge
from .clock import BoardClock, ChipRtc, check_rtc
from .console import Console
from .firmware_process import BOOT_SCRIPT, MPY_DIR, READY_TIMEOUT_S, RESET_CAUSE, FirmwareProcess
from .hands import Hands
from .hw_server import HardwareServer
from .pins import PinBank
from .power import Power
from .radio import VirtualRadio, socket_dir
from .serial_board import SerialBoard

__all__ = ["MPY_DIR", "VirtualBoard"]


class VirtualBoard(FirmwareProcess, Console, SerialBoard, Power, BoardClock, HardwareServer, Hands):
    """One virtual lock. Use as a context manager, or call start() and close().

    Args:
        board: name of a board file under boards/.
        flash_dir: the board's flash filesystem; a temporary directory if None.
        heap_kb: the firmware's GC heap; None: an ESP32's with BLE active, 96 KiB, in this
            interpreter's object sizes (128 KiB on a 64-bit port: build.esp32_heap_kb). The
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
        rtc_drift_ppm: simulate the chip's RTC (sim/clock.py): time.time() reads 0 at power-on,
            runs at 1 + rtc_drift_ppm/1e6, kept across resets and deep sleep, lost with the
            power; only the ESP32-like interpreter can (sim.clock.check_rtc). None: the host's
            wall clock (a fresh chip's epoch would be before every key the fleet issues).
        serial_baud: serial mode: the unit's UART runs at this many baud (8N1), each way, e.g.
            115200 as a real unit's console; None: as fast as the pty (sim/serial.py UartLine).
        id_rotation_ms: a provisioned lock's rotating id and private address change this often
            (the board's ble.rotate_ms, 10 minutes, if None): tests watch several rotations.
        power: figures to use instead of the board file's "power" ones (e.g. sleep_ua,
            boot_ms), added to the board file on the flash: benchmarks compare design points.
    """

    def __init__(self, board: str = "virtual", flash_dir: str | Path | None = None,
                 heap_kb: int | None = None, echo=None, seed: int | None = None, heap_trace: bool = False,
                 radio: VirtualRadio | None = None, lock_id: str | None = None,
                 power_policy: dict | None | str = "board", serial: bool = False,
                 factory_image: bool = True, interpreter: str | None = None,
                 ticks_start_ms: int | None = None, rtc_drift_ppm: float | None = None,
                 serial_baud: int | None = None, id_rotation_ms: int | None = None,
                 power: dict | None = None):
        self.board_name = board
        self.micropython = build.micropython_executable(interpreter)
        if ticks_start_ms is not None:
            build.check_ticks_start(self.micropython, ticks_start_ms)
        self.ticks_start_ms = ticks_start_ms
        if rtc_drift_ppm is not None:
            check_rtc(self.micropython)
        self.rtc = None if rtc_drift_ppm is None else ChipRtc(rtc_drift_ppm)
        self.board = load_board(board)
        # "board": the board file's own power policy; None (always awake) or a dict of
        # awake_ms/sleep_ms: that policy instead, added to the board file on the flash.
        self._policy_override = power_policy
        if power_policy != "board":
            self.board["power"]["policy"] = power_policy
        self._power_override = dict(power or {})
        self.board["power"].update(self._power_override)
        self._rotation_override = id_rotation_ms
        if id_rotation_ms is not None:
            self.board["ble"]["rotate_ms"] = id_rotation_ms
        self.heap_kb = heap_kb or build.esp32_heap_kb(self.micropython)
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
        self._tmp = socket_dir("hemlas-vb-")  # its hw.sock; the flash dir too by default
        self.flash_dir = Path(flash_dir) if flash_dir else self._tmp / "flash"
        self.flash_dir.mkdir(parents=True, exist_ok=True)
        # One build cache per interpreter: the heap costs measured at start() are its own.
        self._build_dir = Path(tempfile.gettempdir()) / f"hemlas-mpy-{os.getuid()}" / build.interpreter_tag(self.micropython)
        self._socket_path = str(self._tmp / "hw.sock")
        self.pins = PinBank(self.board, time.monotonic(), self._send_irq, self.lock_id)
        self.ble = BleBridge(self.radio, self.address, self._send_event,
                             lambda adv, conns, interval_ms: self.pins.set_radio(
                                 adv, conns, time.monotonic(), interval_ms),
                             start_ms=self.board["power"].get("ble_start_ms", 0))
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
        self.reset_cause = RESET_CAUSE["power_on"]
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
        self._uart_rx = serial_io.UartLine(serial_baud)  # what the unit reads, at its baud
        self._uart_tx = serial_io.UartLine(serial_baud)  # and what it writes (full duplex)

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
        build.compile_modules(sorted(p for p in MPY_DIR.glob("*.py") if p.name != BOOT_SCRIPT),
                              self._build_dir / "sim", prune=True)
        self.sim_heap = build.sim_modules_heap(self._build_dir / "sim", self.micropython)
        if self.serial:
            build.compile_modules([MPY_DIR / BOOT_SCRIPT], self._build_dir / "sim", keep_source={BOOT_SCRIPT})
            self.boot_heap = serial_io.boot_heap(self.micropython, self._build_dir / "sim",
                                                 self._build_dir / "sim" / BOOT_SCRIPT)
            if self._factory_image:
                self.install_firmware()
            self._port = serial_io.SerialPort(self._from_port)
            self.serial_port = self._port.path
        self._server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._server.bind(self._socket_path)
        self._server.listen(4)
        threading.Thread(target=self._accept_loop, daemon=True).start()
        threading.Thread(target=self._watchdog_loop, daemon=True).start()
        if self.pins.sensor.parts:
            threading.Thread(target=self._sensor_loop, daemon=True).start()
        return self.power_on()

    def _flash_board_file(self) -> None:
        (self.flash_dir / "board.py").write_bytes(unit_board_file(self.board_name))
        if self._policy_override != "board":
            with open(self.flash_dir / "board.py", "a") as f:
                f.write(f"\nBOARD[\"power\"][\"policy\"] = {self._policy_override!r}  # the virtual board's override\n")
        if self._power_override:
            with open(self.flash_dir / "board.py", "a") as f:
                f.write(f"\nBOARD[\"power\"].update({self._power_override!r})  # the virtual board's override\n")
        if self._rotation_override is not None:
            with open(self.flash_dir / "board.py", "a") as f:
                f.write(f"\nBOARD[\"ble\"][\"rotate_ms\"] = {self._rotation_override!r}  # the virtual board's override\n")

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

    def provision(self, store, reprovision: bool = False) -> str:
        """Provision this lock as a technician would: over its serial console, into store."""
        from ..provisioning import provision

        boots = self.boots
        lock_id = provision(self.command, store, self.board_name, self._ready_info.get("firmware", ""),
                            self.lock_id, reprovision)
        deadline = time.monotonic() + READY_TIMEOUT_S
        while self.boots == boots and time.monotonic() < deadline:
            time.sleep(0.02)  # the lock restarts with its new identity
        self.wait_ready()
        return lock_id
