"""What stands behind the HIL suite's `lock` fixture: a virtual board, or a real unit on a port.

Both are driven the same way: flashed and provisioned with `hemlas flash` over their serial
port, read over their serial console (the firmware's hardware trace, status, log), and used
over BLE with keys from the bench store. Only the hands differ: on the virtual board the
simulated hands press the button, know the battery's voltage and swap the cell; at the bench
the technician does, when the suite asks (those tests are marked `human`).

Two stores (docs/flashing.md): the unit is flashed and provisioned into the fleet store, as
`hemlas flash` does: that record is what lets its keys be issued in the field. Everything the
suite makes for itself (its keys, a foreign lock with a made-up secret) goes into a bench store
of its own, a throwaway file removed at the end, and never reaches the fleet's.
"""

from __future__ import annotations

import os
import re
import sqlite3
import tempfile
import time
from pathlib import Path

import pytest

from hemlas.boards import load_board
from hemlas.fleet.store import FleetStore
from hemlas.keyfile import StaffKey
from hemlas.serialconsole import SerialConsole, SerialConsoleError

# The bench store hands out key ids from here up. The unit logs the key id of every move, and the
# fleet store names a log's key ids by its own keys (ids counting up from 1): a bench key with a
# fleet key's id would put the bench's moves into a carer's visits once the log is synced.
BENCH_KEY_IDS_FROM = 0xFFF00000
BENCH_PERSON = "hil suite"


class Unit:
    """The unit under test, whatever it is."""

    target = "?"

    def __init__(self, port: str, board: str, fleet: FleetStore):
        self.port = port
        self.board = board
        self.fleet = fleet  # where the unit is provisioned, as `hemlas flash` does
        self.bench: FleetStore | None = None  # the suite's own keys and locks: open_bench()
        self._bench_dir: tempfile.TemporaryDirectory | None = None
        self.lock_id = ""
        self.firmware = ""
        self.flash_report = None

    def open_bench(self) -> FleetStore:
        """The bench store, once the unit is provisioned: the unit's record (its secret, for the
        session's keys), nothing else from the fleet, and key ids from BENCH_KEY_IDS_FROM."""
        self._bench_dir = tempfile.TemporaryDirectory(prefix="hemlas-bench-")
        path = Path(self._bench_dir.name) / "bench.sqlite3"
        self.bench = FleetStore(str(path), create=True)
        with sqlite3.connect(path) as conn:  # AUTOINCREMENT's counter (issued_keys.key_id)
            conn.execute("INSERT INTO sqlite_sequence (name, seq) VALUES ('issued_keys', ?)",
                         (BENCH_KEY_IDS_FROM - 1,))
        record = self.fleet.lock(self.lock_id)
        self.bench.add_lock(record.lock_id, record.board, record.firmware_version,
                            self.fleet.lock_secret(self.lock_id))
        return self.bench

    @property
    def store(self) -> FleetStore:
        """The store the checks issue their keys from and add their locks to: the bench's."""
        assert self.bench is not None, "the bench store opens once the unit is provisioned"
        return self.bench

    def console(self, line: str, timeout: float = 30.0) -> dict:
        """One serial console command (the port is opened for it and closed again, so mpremote
        can have it in between)."""
        with SerialConsole(self.port) as console:
            return console.command(line, timeout)

    def reset(self) -> dict:
        """A hard reset over serial; the ready line after it."""
        from hemlas.flashing import reset_unit

        return reset_unit(self.port, board_name=self.board)

    def key(self, role: int, lock_id: str | None = None, valid_for_s: int = 3600) -> StaffKey:
        now = int(time.time())
        issued = self.store.issue_key(lock_id or self.lock_id, BENCH_PERSON, role, now - 60, now + valid_for_s)
        return StaffKey.from_issued(issued)

    def keep_awake(self) -> None:
        """Bench mode (`power stay`, which the unit keeps across the suite's resets and sleeps,
        for hours at most and never past a power-on). A unit with a power policy sleeps between
        short windows and hears no console command asleep, so it is sent until a window hears it."""
        policy = load_board(self.board)["power"].get("policy") or {}
        deadline = time.monotonic() + policy.get("sleep_ms", 0) / 1000 + 15
        while True:
            try:
                if self.console("power stay", timeout=0.3).get("stay"):
                    return
            except SerialConsoleError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)  # a sleeping C3's USB-serial is gone: the port will not open

    def release(self) -> None:
        """Back to the board's power policy before the unit leaves the bench."""
        try:
            self.console("power auto", timeout=5.0)
        except SerialConsoleError:
            pass  # asleep or gone: bench mode ends by itself (hours, or the next power-on)

    def sleep(self, ms: int) -> dict:
        """Deep sleep now, for ms or until a wake source (button, knock) fires: the console's
        `power sleep MS`, answered before the unit goes down."""
        answer = self.console(f"power sleep {ms}")
        assert "error" not in answer, answer
        time.sleep(0.5)  # it answers, then sleeps
        return answer

    def wait_awake(self, timeout: float) -> dict:
        """The unit's status once it answers again (a wake boots it afresh; a C3's USB-serial
        comes back with it)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                return self.console("status", timeout=2.0)
            except SerialConsoleError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)

    # The hands: overridden by each bench.
    def press_button(self) -> None:
        raise NotImplementedError

    def knock(self) -> float:
        """Knock on the door the unit is fitted to (or on the unit): the moment it was done."""
        raise NotImplementedError

    def sleep_current_ua(self) -> float:
        """The supply current while the unit sleeps, in uA (a multimeter in series)."""
        raise NotImplementedError

    def battery_reference_mv(self) -> float:
        raise NotImplementedError

    def swap_battery(self) -> None:
        raise NotImplementedError

    def close(self) -> None:
        if self.bench is not None:
            self.bench.close()
        if self._bench_dir is not None:
            self._bench_dir.cleanup()
        self.fleet.close()


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
        super().__init__(self.vb.serial_port, board, FleetStore(f"{self._home.name}/fleet.sqlite3", create=True))

    def press_button(self) -> None:
        self.vb.press_button()

    def battery_reference_mv(self) -> float:
        return self.vb.battery_mv()  # the model's terminal voltage: the multimeter's reading

    def swap_battery(self) -> None:
        self.vb.swap_battery("fresh")

    def knock(self) -> float:
        self.vb.knock()
        return time.monotonic()

    def sleep_current_ua(self) -> float:
        return self.vb.supply_current_ma() * 1000  # the battery model's current: the multimeter's

    def close(self) -> None:
        self.vb.close()
        self.radio.close()
        super().close()
        self._home.cleanup()


class BenchUnit(Unit):
    """A real unit on a serial port, with the technician's hands."""

    target = "serial"

    def __init__(self, port: str, board: str, store_url: str | None):
        # The fleet store is made here if there is none, as `hemlas flash` makes it.
        super().__init__(port, board, FleetStore(store_url, create=True))

    def press_button(self) -> None:
        ask("Press the unit's push button once, then press Enter here at once:")

    def battery_reference_mv(self) -> float:
        return ask("Measure the battery with the multimeter and type its voltage (e.g. 3.62 V, 3,62 or 3620 mV):",
                   parse_millivolts)

    def swap_battery(self) -> None:
        ask("Swap the battery for a new one now; press Enter when the unit has power again:")

    def knock(self) -> float:
        ask("The unit is asleep. Knock three times on the door it is fitted to (or on the unit), "
            "as a carer would, and press Enter as you knock:")
        return time.monotonic()

    def sleep_current_ua(self) -> float:
        return ask("The unit is asleep. Read the supply current on the multimeter (in series with the "
                   "battery, uA range) and type it (e.g. 18 uA, 18, 0.018 mA):", parse_microamps)


# ---- The technician's answers ----------------------------------------------------------------

_VOLTAGE = re.compile(r"^\s*([0-9]+(?:[.,][0-9]+)?)\s*(mv|v)?\s*$", re.IGNORECASE)
_VOLTS_BELOW = 100  # a bare number under this is volts ("3.62"), from it on millivolts ("3620")
_PLAUSIBLE_MV = (500, 20000)  # any lock battery a multimeter reads; outside it, a typo


def parse_millivolts(text: str) -> float:
    """A multimeter reading as a technician types it, in mV: "3.62", "3,62", "3.62 V", "3.62V",
    "3620", "3620 mV". Raises ValueError with what to type instead."""
    match = _VOLTAGE.match(text)
    if not match:
        raise ValueError(f"{text.strip()!r} is not a voltage: type it as 3.62 V or 3620 mV")
    value = float(match.group(1).replace(",", "."))
    unit = (match.group(2) or "").lower()
    millivolts = value if unit == "mv" or (not unit and value >= _VOLTS_BELOW) else value * 1000
    low, high = _PLAUSIBLE_MV
    if not low <= millivolts <= high:
        raise ValueError(f"{text.strip()!r} reads as {millivolts:.0f} mV, which no lock battery shows: "
                         "measure again and type it as 3.62 V or 3620 mV")
    return millivolts


_CURRENT = re.compile(r"^\s*([0-9]+(?:[.,][0-9]+)?)\s*(ua|µa|μa|ma)?\s*$", re.IGNORECASE)
_PLAUSIBLE_UA = (0.1, 500_000)  # a sleeping chip to an awake one with the motor: outside, a typo


def parse_microamps(text: str) -> float:
    """A multimeter's current as a technician types it, in uA: "18", "18 uA", "18µA",
    "0,018 mA". Raises ValueError with what to type instead."""
    match = _CURRENT.match(text)
    if not match:
        raise ValueError(f"{text.strip()!r} is not a current: type it as 18 uA or 0.018 mA")
    value = float(match.group(1).replace(",", "."))
    microamps = value * 1000 if (match.group(2) or "").lower() == "ma" else value
    low, high = _PLAUSIBLE_UA
    if not low <= microamps <= high:
        raise ValueError(f"{text.strip()!r} reads as {microamps:g} uA, which no lock draws: "
                         "measure again and type it as 18 uA or 0.018 mA")
    return microamps


def ask(prompt: str, parse=None, read=input):
    """Ask the technician until the answer parses (parse: text -> value, ValueError to ask
    again); None as parse: any answer (Enter) will do. No answer at all (standard input
    closed) fails the check, saying so: a check not done is not passed."""
    while True:
        try:
            text = read(f"\n[bench] {prompt} ")
        except EOFError:
            pytest.fail("no answer from the technician (standard input is closed): the check was not "
                        "done; run hemlas hil at a terminal", pytrace=False)
        if parse is None:
            return text
        try:
            return parse(text)
        except ValueError as err:
            print(f"[bench] {err}")


__all__ = ["BENCH_KEY_IDS_FROM", "BenchUnit", "Unit", "VirtualUnit", "ask", "parse_microamps", "parse_millivolts"]
