"""The lock's service console over a serial port (a real unit's USB-serial, or the virtual
board's pty): one command line out, its one `@{json}` answer line back (docs/firmware.md).

Everything else the firmware prints (fault lines, MicroPython's banner) is kept in `output`.
"""

from __future__ import annotations

import json
import time

import serial

from .errors import HemlasError
from .i18n import _

_READY_TIMEOUT_S = 30.0
_COMMAND_TIMEOUT_S = 30.0


class SerialConsoleError(HemlasError):
    """The port could not be opened, went away, or the lock did not answer."""

    def __init__(self, message: str, output: str = ""):
        super().__init__(message)
        self.output = output  # what the firmware printed last


class SerialConsole:
    def __init__(self, port: str, baudrate: int = 115200, opened: serial.Serial | None = None):
        """opened: a port already open (e.g. mpremote's), to read a reset's ready line on."""
        self.port = port
        try:
            self._serial = opened or serial.Serial(port, baudrate, timeout=0.1, exclusive=True)
            self._serial.timeout = 0.1
        except (serial.SerialException, OSError) as err:
            raise SerialConsoleError(_("cannot open {port}: {error}")
                                     .format(port=port, error=err)) from err
        self.output: list[str] = []
        self._buffer = b""

    def close(self) -> None:
        self._serial.close()

    def __enter__(self) -> SerialConsole:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _lines(self, deadline: float):
        """Lines from the port until the deadline (None when it passes)."""
        while time.monotonic() < deadline:
            if b"\n" not in self._buffer:
                try:
                    chunk = self._serial.read(256)
                except (serial.SerialException, OSError) as err:
                    raise SerialConsoleError(_("{port} went away: {error}")
                                             .format(port=self.port, error=err)) from err
                self._buffer += chunk
                continue
            line, _, self._buffer = self._buffer.partition(b"\n")
            yield line.decode(errors="replace").strip("\r")
        return

    def _answers(self, deadline: float):
        for line in self._lines(deadline):
            start = line.find("@{")  # after whatever a reset left on the line (raw REPL's EOFs)
            if start >= 0:
                try:
                    yield json.loads(line[start + 1:])
                    continue
                except ValueError:
                    pass
            if line:
                self.output.append(line)

    def wait_ready(self, timeout: float = _READY_TIMEOUT_S) -> dict:
        """The firmware's ready line after a reset (its id, firmware, state)."""
        for answer in self._answers(time.monotonic() + timeout):
            if "ready" in answer:
                return answer
        raise SerialConsoleError(_("the lock on {port} did not come up within {seconds} s")
                                 .format(port=self.port, seconds=f"{timeout:.0f}"),
                                 "\n".join(self.output[-10:]))

    def ready_or_status(self, timeout: float = _READY_TIMEOUT_S) -> dict:
        """The ready line of a unit that is just starting, or, if it started before the port
        was opened (its ready line gone), its status, which carries the same fields."""
        try:
            return self.wait_ready(min(timeout, 5.0))
        except SerialConsoleError:
            return self.command("status", timeout)

    def command(self, line: str, timeout: float = _COMMAND_TIMEOUT_S) -> dict:
        """Send one console command; its answer (an "error" key when the lock refused it)."""
        name = line.split()[0]
        try:
            self._serial.write(line.encode() + b"\n")
        except (serial.SerialException, OSError) as err:
            raise SerialConsoleError(_("{port} went away: {error}")
                                     .format(port=self.port, error=err)) from err
        for answer in self._answers(time.monotonic() + timeout):
            if answer.get("cmd") == name:
                return answer
        raise SerialConsoleError(_("no answer to {command!r} from {port}")
                                 .format(command=name, port=self.port), "\n".join(self.output[-10:]))
