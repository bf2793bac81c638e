"""The virtual board's serial port: a pty that mpremote, screen or picocom open as they would an
ESP32's USB-UART, bridged by the harness to the MicroPython process's own pty.

Two ptys, because the port outlives the process: a reset ends the unix port's process (the
harness starts another), while the user's end stays open, as a board's USB-UART does. Between
the two the harness does what the board's UART driver and stdout do (hemlas.sim.board):

- Ctrl-C while Python code runs is a KeyboardInterrupt, not a byte (the unix port has its
  SIGINT handler in place exactly then); at the REPL's prompt it is a byte like any other.
- "\\n" going out becomes "\\r\\n", as a board's cooked stdout sends it; the REPL's own "\\r\\n" pass.
- Output nobody reads is dropped after a short wait, as a UART's into an unplugged cable.
"""

from __future__ import annotations

import hashlib
import os
import select
import signal
import subprocess
import tempfile
import termios
import threading
import time
import tty
from collections.abc import Callable
from pathlib import Path

_UNREAD_WAIT_S = 0.5  # how long output waits for a reader before the port counts as unattended


# main.py for the boot's heap cost: what the firmware finds imported when its first line runs.
_HEAP_PROBE = "import gc, asyncio, machine, bluetooth, esp32\ngc.collect()\nprint(gc.mem_alloc())\n"


def boot_heap(micropython: str, sim_dir: Path, boot_script: Path) -> int:
    """Bytes of GC heap the serial mode's boot (sim/mpy/_boot.py) holds while main.py runs.

    On an ESP32 the boot is frozen bytecode and C, and costs the firmware's heap nothing; here
    the script's bytecode, and what it sets up, stay on the heap under main.py. Measured as the
    difference between main.py run under the boot and run directly (pipe mode), both importing
    the same modules, so the harness adds exactly this to the heap. Cached per boot and sim build.
    """
    stamp = sim_dir / "boot_heap"
    digest = hashlib.sha256(boot_script.read_bytes() + b"".join(
        p.read_bytes() for p in sorted(sim_dir.glob("*.mpy")))).hexdigest()[:16]
    if stamp.is_file():
        cached_digest, _, cached = stamp.read_text().partition(" ")
        if cached_digest == digest:
            return int(cached)
    env = {**os.environ, "MICROPYPATH": f"{sim_dir}:.frozen:"}
    env.pop("HEMLAS_SIM_REPL", None)
    with tempfile.TemporaryDirectory() as flash:
        (Path(flash) / "main.py").write_text(_HEAP_PROBE)
        figures = []
        for args in (["main.py"], ["-i", str(boot_script)]):
            result = subprocess.run([micropython, "-X", "heapsize=1M", *args], cwd=flash, env=env,
                                    stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=30)
            words = result.stdout.split()
            if not words or not words[0].isdigit():
                raise RuntimeError(f"could not measure the boot's heap: {result.stdout}{result.stderr}")
            figures.append(int(words[0]))
    cost = max(0, figures[1] - figures[0])
    scratch = stamp.with_name(f".boot_heap.{os.getpid()}")
    scratch.write_text(f"{digest} {cost}")
    os.replace(scratch, stamp)
    return cost


def console_pty() -> tuple[int, int]:
    """A pty for the MicroPython process's stdio, (master, slave).

    Set as a board's stdio is while a program runs: every byte as it comes (no line editing,
    echo or terminal signals: Ctrl-C is the harness's business), CR read as LF (a board's
    sys.stdin maps CR to LF), output untouched. The unix port's REPL switches it to raw mode
    while it reads a line and back while the code runs, as it does on a terminal.
    """
    master, slave = os.openpty()
    attr = termios.tcgetattr(slave)
    attr[0] = termios.ICRNL  # iflag
    attr[1] = 0  # oflag: no LF to CRLF here; the harness cooks (it must not double the REPL's)
    attr[2] = termios.CS8 | termios.CREAD | termios.CLOCAL  # cflag
    attr[3] = 0  # lflag: no ICANON, ECHO, ISIG
    attr[6][termios.VMIN] = 1
    attr[6][termios.VTIME] = 0
    termios.tcsetattr(slave, termios.TCSANOW, attr)
    return master, slave


def interrupt_armed(pid: int) -> bool:
    """Whether the process has its SIGINT handler in place.

    The unix port installs it exactly while it runs Python code and sets it back to the
    default at the REPL's prompt (mp_hal_set_interrupt_char), as a board's UART driver turns
    Ctrl-C into a KeyboardInterrupt while code runs and passes it on as a character otherwise.
    """
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("SigCgt:"):
                    return bool(int(line.split()[1], 16) & (1 << (signal.SIGINT - 1)))
    except OSError:
        pass
    return False


class UartLine:
    """A UART's throughput, one direction: at `baud` with 8N1 framing a byte takes 10 bit
    times, so 115200 baud carries 11 520 bytes a second, whatever the USB or pty behind it.

    wait(n) returns when n more bytes would have left the wire after those before them: the
    caller (the harness's bridge) holds them until then, so a tool writing faster than the line
    blocks on a full buffer, and one reading sees them arrive at the line's pace. baud None: no
    line (the pty's own speed), as the virtual board has had.
    """

    def __init__(self, baud: int | None):
        if baud is not None and (not isinstance(baud, int) or isinstance(baud, bool) or baud <= 0):
            raise ValueError(f"serial_baud must be a positive whole number of baud, not {baud!r}")
        self.baud = baud
        self._free_at = 0.0  # when the line has sent everything handed to it so far
        self._lock = threading.Lock()

    def wait(self, n: int) -> None:
        if self.baud is None or n <= 0:
            return
        with self._lock:
            now = time.monotonic()
            self._free_at = max(now, self._free_at) + n * 10 / self.baud
            until = self._free_at
        delay = until - time.monotonic()
        if delay > 0:
            time.sleep(delay)


class Cooker:
    """LF to CRLF on the way out, as a board's stdout (mp_hal_stdout_tx_strn_cooked) sends it.

    The unix port writes print()'s "\\n" as it is and the REPL's "\\r\\n" as they are; on a board
    both reach the wire as "\\r\\n". A CR at the end of one chunk and LF at the start of the next
    are one line end.
    """

    def __init__(self) -> None:
        self._last_cr = False

    def __call__(self, data: bytes) -> bytes:
        head = b""
        if self._last_cr and data.startswith(b"\n"):
            head, data = b"\n", data[1:]
        out = head + data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
        if head or data:
            self._last_cr = (head + data).endswith(b"\r")
        return out


class SerialPort:
    """The user's end: a pty whose slave (`path`, e.g. /dev/pts/7) tools open as a serial port.

    on_input(bytes) gets what a tool writes; send(bytes) is what the board writes. The harness
    keeps the slave open itself, so the port exists (and reads never fail) between users.
    """

    def __init__(self, on_input: Callable[[bytes], None]):
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)  # what pyserial sets too: no echo before the first user opens it
        self.path = os.ttyname(self._slave)
        os.set_blocking(self._master, False)
        self._on_input = on_input
        self._closed = False
        self._unattended = False
        self._send_lock = threading.Lock()
        self._thread = threading.Thread(target=self._pump, daemon=True, name="serial-port")
        self._thread.start()

    def _pump(self) -> None:
        while not self._closed:
            try:
                ready, _, _ = select.select([self._master], [], [], 0.2)
                if not ready:
                    continue
                data = os.read(self._master, 4096)
            except BlockingIOError:
                continue
            except (OSError, ValueError):
                return  # closed
            if data:
                self._on_input(data)

    def send(self, data: bytes) -> None:
        """Bytes from the board. Waits while a reader is behind (back-pressure, as USB gives);
        drops what nobody reads within half a second, and then everything until someone does."""
        view = memoryview(data)
        with self._send_lock:
            while view and not self._closed:
                try:
                    written = os.write(self._master, view)
                except BlockingIOError:
                    if self._unattended:
                        return
                    try:
                        _, writable, _ = select.select([], [self._master], [], _UNREAD_WAIT_S)
                    except (OSError, ValueError):
                        return
                    if not writable:
                        self._unattended = True
                        return
                    continue
                except OSError:
                    return
                self._unattended = False
                view = view[written:]

    def close(self) -> None:
        self._closed = True
        if self._thread is not threading.current_thread():
            self._thread.join(1.0)  # out of its select before the descriptors go
        with self._send_lock:
            fds = (self._master, self._slave)
        for fd in fds:
            try:
                os.close(fd)
            except OSError:
                pass
