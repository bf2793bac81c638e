"""The door the lock is fitted to, as its knock sensor feels it: knocks, blows, the leaf
swinging; and the sensor as the board wires it (KnockSensor: its I2C bus and INT1 line).

Pure, like physics.py: time is passed in. acceleration(t) is what the sensor (sim/lis2dw12.py)
sits in at time t, in mg, on the part's axes; the part adds its own noise, clipping and
sampling. The part is on the door leaf in the lock unit, its Z axis normal to the leaf, Y
down (so it reads Y = -1 g at rest: an accelerometer at rest reads the reaction to gravity,
+1 g on an axis pointing up), X horizontal in the leaf's plane, pointing to the hinge.

Every magnitude below is an assumption of this model, not a measurement (no published
figure for a knock felt at a lock was found); they are chosen to be plausible and are
parameters, so a bench measurement can replace them:
- A knock: `raps` raps 150 ms apart, each a damped vibration of the leaf on Z: 80 Hz, peak
  `mg` (600 by default, felt at the lock a few tens of cm from the knuckles), envelope
  e^(-t/10 ms) (down to 2 % within 40 ms). A wooden leaf's first bending modes are tens to a
  few hundred hertz; 80 Hz sits among them.
- A kick (forced entry): one blow, a damped vibration on Z at 40 Hz (a boot or a shoulder
  drives the whole leaf, lower than a knuckle), peak `mg` (4000), envelope e^(-t/25 ms).
- Opening: the leaf turns about its vertical hinge by `angle_deg` (45) in `seconds` (1.5),
  with an angular acceleration alpha0 sin(2 pi t/T) (speeds up, then slows to rest), the
  part `radius_m` (0.75 m) from the hinge, near the lock edge of a 0.9 m leaf. A point on a
  leaf turning about its hinge moves along the leaf's normal: the tangential acceleration r
  alpha is on Z (peak 168 mg with the defaults: +Z first, the way the leaf opens), the
  centripetal r omega^2 on X (peak 84 mg). Gravity stays on Y. The door is open from the
  moment it moves (the latch is out of the strike plate).
- Closing: from the open angle to the frame in `seconds` (1.0), accelerating all the way
  (a push, or a closer), alpha0 sin(pi t/T) towards -Z (peak 190 mg at 45 degrees), then the
  leaf hits the frame at its end speed: a damped spike on Z, `impact_mg` (1500), 50 Hz,
  envelope e^(-t/15 ms). Closed at the impact.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..errors import VirtualBoardError
from .chips import Refusal
from .lis2dw12 import I2C_ADDRESSES, Lis2dw12

G_MG = 1000.0
_MG_PER_MS2 = 1000.0 / 9.80665
GRAVITY = (0.0, -G_MG, 0.0)  # Y down
RAP_INTERVAL_S = 0.150
_RING_TAIL_S = 8  # a damped vibration is cut off after this many time constants (e^-8: 0.03 %)
_ENODEV = 19  # mp: py/mperrno.h MP_ENODEV


@dataclass
class _Ring:
    """A damped vibration on Z from start: peak mg, frequency hz, envelope time constant tau_s."""

    start: float
    mg: float
    hz: float
    tau_s: float

    def __post_init__(self) -> None:
        # e^(-t/tau) sin(wt) peaks where tan(wt) = w tau, below 1: scaled so that its peak is mg.
        w = 2 * math.pi * self.hz
        t_peak = math.atan(w * self.tau_s) / w
        self._amplitude = self.mg / (math.exp(-t_peak / self.tau_s) * math.sin(w * t_peak))

    @property
    def end(self) -> float:
        return self.start + _RING_TAIL_S * self.tau_s

    def at(self, t: float) -> tuple[float, float, float]:
        dt = t - self.start
        if dt < 0 or t > self.end:
            return 0.0, 0.0, 0.0
        return 0.0, 0.0, self._amplitude * math.exp(-dt / self.tau_s) * math.sin(2 * math.pi * self.hz * dt)


@dataclass
class _Swing:
    """The leaf turning by angle_rad in seconds: opening (rests at the end) or closing (at speed)."""

    start: float
    seconds: float
    angle_rad: float
    radius_m: float
    closing: bool

    @property
    def end(self) -> float:
        return self.start + self.seconds

    def at(self, t: float) -> tuple[float, float, float]:
        dt, period = t - self.start, self.seconds
        if dt < 0 or dt > period:
            return 0.0, 0.0, 0.0
        if self.closing:  # alpha0 sin(pi t/T): theta(T) = alpha0 T^2 / pi
            alpha0 = math.pi * self.angle_rad / period ** 2
            alpha = -alpha0 * math.sin(math.pi * dt / period)
            omega = alpha0 * period / math.pi * (1 - math.cos(math.pi * dt / period))
        else:  # alpha0 sin(2 pi t/T): theta(T) = alpha0 T^2 / (2 pi), at rest at T
            alpha0 = 2 * math.pi * self.angle_rad / period ** 2
            alpha = alpha0 * math.sin(2 * math.pi * dt / period)
            omega = alpha0 * period / (2 * math.pi) * (1 - math.cos(2 * math.pi * dt / period))
        return self.radius_m * omega ** 2 * _MG_PER_MS2, 0.0, self.radius_m * alpha * _MG_PER_MS2


class Door:
    """The door leaf: what it is doing over time, and whether it is open."""

    def __init__(self) -> None:
        self._motions: list = []  # _Ring and _Swing, overlapping freely
        self._states: list[tuple[float, bool]] = [(-math.inf, False)]  # (from, open): closed
        self._angle_rad = 0.0
        self._swing_until = -math.inf

    def acceleration(self, t: float) -> tuple[float, float, float]:
        x, y, z = GRAVITY
        for motion in self._motions:
            dx, dy, dz = motion.at(t)
            x, y, z = x + dx, y + dy, z + dz
        return x, y, z

    def is_open(self, now: float) -> bool:
        return [state for since, state in self._states if since <= now][-1]

    def _add(self, now: float, *motions) -> None:
        # Motions long over are dropped: the sensor samples in time order and never looks back.
        self._motions = [m for m in self._motions if m.end > now - 1.0] + list(motions)

    def knock(self, now: float, raps: int = 3, mg: float = 600.0) -> float:
        if raps < 1:
            raise VirtualBoardError("a knock has at least one rap")
        self._add(now, *(_Ring(now + i * RAP_INTERVAL_S, mg, 80.0, 0.010) for i in range(raps)))
        return now

    def kick(self, now: float, mg: float = 4000.0) -> float:
        self._add(now, _Ring(now, mg, 40.0, 0.025))
        return now

    def _check_still(self, now: float) -> None:
        if now < self._swing_until:
            raise VirtualBoardError("the door is still swinging")

    def open(self, now: float, angle_deg: float = 45.0, seconds: float = 1.5, radius_m: float = 0.75) -> float:
        self._check_still(now)
        if self.is_open(now):
            raise VirtualBoardError("the door is already open")
        self._angle_rad = math.radians(angle_deg)
        self._add(now, _Swing(now, seconds, self._angle_rad, radius_m, closing=False))
        self._states.append((now, True))
        self._swing_until = now + seconds
        return now

    def close(self, now: float, seconds: float = 1.0, impact_mg: float = 1500.0, radius_m: float = 0.75) -> float:
        """Swing the leaf shut; returns the time it hits the frame (and is closed)."""
        self._check_still(now)
        if not self.is_open(now):
            raise VirtualBoardError("the door is already closed")
        shut = now + seconds
        self._add(now, _Swing(now, seconds, self._angle_rad, radius_m, closing=True),
                  _Ring(shut, impact_mg, 50.0, 0.015))
        self._states.append((shut, False))
        self._swing_until = shut
        return shut


class KnockSensor:
    """The board's knock sensor as wired (board file "accel", pins i2c_scl, i2c_sda, accel_int):
    a LIS2DW12 on the I2C bus, feeling the door, its INT1 on accel_int with a pull-up.

    A transaction on other pins, or to an address nothing answers at, is not acknowledged:
    MicroPython v1.28's esp32 port (legacy driver: MICROPY_HW_ESP_NEW_I2C_DRIVER 0,
    mpconfigport.h:200-201) maps that ESP_FAIL to -MP_ENODEV (machine_i2c.c:312), which
    extmod/machine_i2c.c raises as OSError(19) (:585, :607, :627); scan() lists the addresses
    that acknowledge an empty write (:322-338). A board without "accel" has an empty bus."""

    def __init__(self, wiring: tuple[int, int] | None, parts: dict[int, Lis2dw12], int_pin: int | None):
        self.wiring, self.parts, self.int_pin = wiring, parts, int_pin
        self.controllers: dict[int, tuple[int, int]] = {}  # I2C id -> (scl, sda) the firmware set up
        self.level = 1  # accel_int as the MCU reads it: the pull-up, until INT1 drives it

    @classmethod
    def for_board(cls, board: dict, door: Door, now: float) -> "KnockSensor":
        accel = board.get("accel")
        if not accel:
            return cls(None, {}, None)
        if accel.get("part") != "LIS2DW12" or accel.get("addr") not in I2C_ADDRESSES:
            raise VirtualBoardError(f"the virtual board simulates a LIS2DW12 at 0x18 or 0x19, not {accel!r}")
        pins = board["pins"]
        part = Lis2dw12(door.acceleration, now)
        sensor = cls((pins["i2c_scl"], pins["i2c_sda"]), {accel["addr"]: part}, pins["accel_int"])
        pad = part.int1_pad()  # at power-on: push-pull, active high, idle: driven low
        sensor.level = 1 if pad is None else pad
        return sensor

    def request(self, op: str, args: list[str], chip, now: float) -> str:
        """machine.I2C: "i2c_init id scl sda freq", "i2c_scan id", "i2c_rd id addr reg n",
        "i2c_wr id addr reg hexdata" (the written bytes, as the wire brings them)."""
        i2c_id = int(args[0])
        if op == "i2c_init":
            self.controllers[i2c_id] = chip.check_i2c(i2c_id, int(args[1]), int(args[2]), self.controllers.get(i2c_id))
            return "ok"
        pins = self.controllers[i2c_id]
        if op == "i2c_scan":
            return " ".join(str(addr) for addr in sorted(self.parts)) if pins == self.wiring else ""
        part = self.parts.get(int(args[1])) if pins == self.wiring else None
        if part is None:
            raise Refusal("OSError", "", _ENODEV)
        if op == "i2c_rd":
            return part.read(int(args[2]), int(args[3]), now).hex()
        part.write(int(args[2]), b"" if args[3] == "-" else bytes.fromhex(args[3]), now)
        return "ok"

    def tick(self, now: float) -> list[int]:
        """Run the parts to now; the levels accel_int went through since the last tick, in order
        (a pulse shorter than a tick is two of them)."""
        levels = []
        for part in self.parts.values():
            part.advance(now)
            changes, part.pad_changes = part.pad_changes, []
            for _t, pad in changes:
                level = 1 if pad is None else pad  # a released open drain: the pull-up
                if level != self.level:
                    self.level = level
                    levels.append(level)
        return levels

    def power_on(self, now: float) -> None:
        """The battery is back (after a cut or a swap): the parts start from their power-on reset."""
        for part in self.parts.values():
            part.power_on(now)
        self.tick(now)
