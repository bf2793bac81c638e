"""Physical model of the lock hardware on the virtual board.

Pure: time is passed in, so the model is tested on its own. Units: seconds, milliamps,
millivolts, milliohms; the bolt position runs from 0.0 (retracted, unlocked) to 1.0 (thrown,
locked).
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field

_END_TOLERANCE = 0.005  # a limit switch closes within the last 0.5 % of travel
_INRUSH_S = 0.04  # a DC motor draws near-stall current while it spins up
_STEP_S = 0.002  # integration step: the bolt moves < 1 % of travel per step
# With the motor off nothing changes but the cell's charge, which moves its voltage by parts per
# million a second at a sleeping lock's microamps (and < 0.01 % at 25 mA): a long step loses
# nothing. Small steps there made integrating a minute's deep sleep take ~0.3 s of the host's
# time inside the wake, which the model then charged as the chip's start-up at full current.
_IDLE_STEP_S = 1.0


def _interpolate(curve, x: float) -> float:
    xs = [p[0] for p in curve]
    i = bisect.bisect_left(xs, x)
    if i <= 0:
        return float(curve[0][1])
    if i >= len(curve):
        return float(curve[-1][1])
    (x0, y0), (x1, y1) = curve[i - 1], curve[i]
    return y0 + (y1 - y0) * (x - x0) / (x1 - x0)


@dataclass
class Cell:
    """A battery pack: open-circuit voltage falls and internal resistance rises as it empties."""

    cfg: dict
    soc: float = 1.0  # state of charge, 1.0 full
    used_mah: float = 0.0

    def ocv_mv(self) -> float:
        return _interpolate(self.cfg["ocv_curve"], self.soc)

    def r_mohm(self) -> float:
        return _interpolate(self.cfg["r_curve"], self.soc)

    def drain(self, current_ma: float, seconds: float) -> None:
        mah = current_ma * seconds / 3600.0
        self.used_mah += mah
        self.soc = max(0.0, self.soc - mah / self.cfg["capacity_mah"])


@dataclass
class Loads:
    """What draws current at one instant, besides a stalled motor."""

    base_ma: float = 0.0  # MCU, LEDs
    motor_running_ma: float = 0.0  # a freely moving motor draws a constant current
    conductance: float = 0.0  # 1/ohm of resistive loads: a stalled motor, the test load


def solve_terminal(cell: Cell, loads: Loads) -> tuple[float, float]:
    """Terminal voltage (mV) and total current (mA) of the cell under the given loads."""
    r = cell.r_mohm() / 1000.0  # ohm
    ocv = cell.ocv_mv() / 1000.0
    fixed_a = (loads.base_ma + loads.motor_running_ma) / 1000.0
    # V = OCV - R * (I_fixed + G * V)  =>  V = (OCV - R * I_fixed) / (1 + R * G)
    volts = max(0.0, (ocv - r * fixed_a) / (1.0 + r * loads.conductance))
    amps = fixed_a + loads.conductance * volts
    return volts * 1000.0, amps * 1000.0


@dataclass
class Bolt:
    """The bolt and the motor that drives it, through an H-bridge."""

    motor: dict
    reference_mv: float  # the supply at which the bolt travels in motor["travel_ms"]
    position: float = 0.0
    jam_at: float | None = None  # an obstruction the bolt cannot pass (set with set_jam)
    _jam_below: bool = False  # the bolt is on the low side of the obstruction
    drive: int = 0  # +1 out (lock), -1 in (unlock), 0 off
    duty: float = 0.0
    driven_since: float = 0.0
    motor_ma: float = 0.0  # current through the motor at the last step
    history: list = field(default_factory=list)  # (t, drive, duty) changes

    def set_drive(self, now: float, drive: int, duty: float) -> None:
        if drive != self.drive or abs(duty - self.duty) > 1e-6:
            if drive != self.drive:
                self.driven_since = now
            self.drive, self.duty = drive, duty
            self.history.append((now, drive, duty))

    def set_jam(self, at: float | None) -> None:
        """An obstruction at `at`: it stops the bolt from crossing it from the side it is on."""
        self.jam_at = at
        self._jam_below = at is not None and self.position <= at

    def _limits(self) -> tuple[float, float]:
        if self.jam_at is None:
            return 0.0, 1.0
        return (0.0, self.jam_at) if self._jam_below else (self.jam_at, 1.0)

    def blocked(self) -> bool:
        low, high = self._limits()
        if self.drive > 0:
            return self.position >= high - 1e-9
        if self.drive < 0:
            return self.position <= low + 1e-9
        return False

    def loads(self, now: float) -> tuple[float, float]:
        """(running mA, stall conductance) the motor puts on the supply now."""
        if not self.drive or self.duty <= 0:
            return 0.0, 0.0
        winding = self.motor["winding_ohm"]
        if self.blocked() or now - self.driven_since < _INRUSH_S:
            return 0.0, self.duty / winding
        return self.motor["run_ma"] * self.duty, 0.0

    def move(self, now: float, seconds: float, supply_mv: float) -> None:
        if not self.drive or self.blocked() or self.duty <= 0:
            return
        speed = (supply_mv * self.duty / self.reference_mv) / (self.motor["travel_ms"] / 1000.0)
        low, high = self._limits()
        self.position = min(high, max(low, self.position + self.drive * speed * seconds))

    def at_locked_end(self) -> bool:
        return self.position >= 1.0 - _END_TOLERANCE

    def at_unlocked_end(self) -> bool:
        return self.position <= _END_TOLERANCE


@dataclass
class Circuit:
    """Cell, bolt and the board's other loads, advanced together in small steps."""

    board: dict
    cell: Cell
    bolt: Bolt
    base_ma: float = 0.0
    test_load_on: bool = False
    last_t: float = 0.0
    supply_mv: float = 0.0
    total_ma: float = 0.0

    @classmethod
    def for_board(cls, board: dict, now: float) -> "Circuit":
        motor = board["motor"]
        reference = board["battery"]["nominal_mv"] * motor["duty_pct"] / 100.0
        circuit = cls(board, Cell(board["battery"]), Bolt(motor, reference), last_t=now)
        circuit.settle(now)
        return circuit

    def _loads(self, now: float) -> Loads:
        running, conductance = self.bolt.loads(now)
        if self.test_load_on:
            conductance += 1.0 / self.board["load"]["ohm"]
        return Loads(self.base_ma, running, conductance)

    def settle(self, now: float) -> None:
        """Recompute the supply after a load changed, without advancing time."""
        self.supply_mv, self.total_ma = solve_terminal(self.cell, self._loads(now))
        self.bolt.motor_ma = self._motor_ma(now)

    def _motor_ma(self, now: float) -> float:
        running, conductance = self.bolt.loads(now)
        return running + conductance * self.supply_mv

    def advance(self, now: float) -> None:
        t = self.last_t
        while t < now:
            idle = not self.bolt.drive or self.bolt.duty <= 0
            step = min(_IDLE_STEP_S if idle else _STEP_S, now - t)
            self.settle(t)
            self.cell.drain(self.total_ma, step)
            self.bolt.move(t, step, self.supply_mv)
            t += step
        self.last_t = max(self.last_t, now)
        self.settle(self.last_t)

    def loaded_mv_under_test_load(self, soc: float) -> float:
        """The supply the firmware would read with the test load on, at a given charge."""
        cell = Cell(self.cell.cfg, soc)
        loads = Loads(self.base_ma, 0.0, 1.0 / self.board["load"]["ohm"])
        return solve_terminal(cell, loads)[0]

    def soc_for_loaded_mv(self, target_mv: float) -> float:
        """The charge at which the loaded reading is target_mv (the curves are monotonic)."""
        lo, hi = 0.0, 1.0
        for _ in range(40):
            mid = (lo + hi) / 2
            if self.loaded_mv_under_test_load(mid) < target_mv:
                lo = mid
            else:
                hi = mid
        return hi
