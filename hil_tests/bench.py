"""What stands behind the HIL suite's `lock` fixture: a virtual board, or a real unit on a port.

Both are driven the same way: flashed and provisioned with `hemlas flash` over their serial
port, read over their serial console (the firmware's hardware trace, status, log), and used
over BLE with keys from a fleet store. Only the hands differ: on the virtual board the
simulated hands press the button, know the battery's voltage and swap the cell; at the bench
the technician does, when the suite asks (those tests are marked `human`).
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

from hemlas.fleet.store import FleetStore
from hemlas.keyfile import StaffKey
from hemlas.serialconsole import SerialConsole


class Unit:
    """The unit under test, whatever it is."""

    target = "?"

    def __init__(self, port: str, board: str, store: FleetStore):
        self.port = port
        self.board = board
        self.store = store
        self.lock_id = ""
        self.firmware = ""
        self.flash_report = None

    def console(self, line: str, timeout: float = 30.0) -> dict:
        """One serial console command (the port is opened for it and closed again, so mpremote
        can have it in between)."""
        with SerialConsole(self.port) as console:
            return console.command(line, timeout)

    def reset(self) -> dict:
        """A hard reset over serial; the ready line after it."""
        from hemlas.flashing import reset_unit

        return reset_unit(self.port)

    def key(self, role: int, lock_id: str | None = None, valid_for_s: int = 3600) -> StaffKey:
        now = int(time.time())
        issued = self.store.issue_key(lock_id or self.lock_id, "hil suite", role, now - 60, now + valid_for_s)
        return StaffKey.from_issued(issued)

    # The hands: overridden by each bench.
    def press_button(self) -> None:
        raise NotImplementedError

    def battery_reference_mv(self) -> float:
        raise NotImplementedError

    def swap_battery(self) -> None:
        raise NotImplementedError

    def close(self) -> None:
        pass


class VirtualUnit(Unit):
    """A blank virtual board (MicroPython only, nothing in its flash) on a virtual radio."""

    target = "sim"

    def __init__(self, board: str):
        from hemlas.radio.config import ENV_VAR
        from hemlas.sim import VirtualBoard, VirtualRadio

        self._home = tempfile.TemporaryDirectory(prefix="hemlas-hil-")
        self.radio = VirtualRadio()
        os.environ[ENV_VAR] = self.radio.spec
        os.environ["HEMLAS_KEYS"] = str(Path(self._home.name) / "keys.json")
        self.vb = VirtualBoard(board, flash_dir=Path(self._home.name) / "flash", radio=self.radio,
                               serial=True, power_policy=None)
        self.vb.start()
        super().__init__(self.vb.serial_port, board, FleetStore(f"{self._home.name}/fleet.sqlite3"))

    def press_button(self) -> None:
        self.vb.press_button()

    def battery_reference_mv(self) -> float:
        return self.vb.battery_mv()  # the model's terminal voltage: the multimeter's reading

    def swap_battery(self) -> None:
        self.vb.swap_battery("fresh")

    def close(self) -> None:
        self.vb.close()
        self.radio.close()
        self.store.close()
        self._home.cleanup()


class BenchUnit(Unit):
    """A real unit on a serial port, with the technician's hands."""

    target = "serial"

    def __init__(self, port: str, board: str, store_url: str | None):
        super().__init__(port, board, FleetStore(store_url))

    @staticmethod
    def _ask(prompt: str) -> str:
        return input(f"\n[bench] {prompt} ")

    def press_button(self) -> None:
        self._ask("Press the unit's push button once, then press Enter here at once:")

    def battery_reference_mv(self) -> float:
        return float(self._ask("Measure the battery with the multimeter and type its voltage in mV:"))

    def swap_battery(self) -> None:
        self._ask("Swap the battery for a new one now; press Enter when the unit has power again:")

    def close(self) -> None:
        self.store.close()


__all__ = ["Unit", "VirtualUnit", "BenchUnit"]
