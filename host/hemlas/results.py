"""What the field client returns: plain, frozen records of a lock's answers."""

from __future__ import annotations

from dataclasses import dataclass

from .codes import BatteryState, LockState


@dataclass(frozen=True)
class FoundLock:
    lock_id: str
    address: str
    rssi: int | None


@dataclass(frozen=True)
class LockStatus:
    state: LockState
    battery: BatteryState
    busy: bool
    next_seq: int
    door: str | None = None  # "closed", "open", "left open"; None: the lock has no knock sensor


@dataclass(frozen=True)
class MoveResult:
    state: LockState
    travel_ms: int

    @property
    def moved(self) -> bool:
        """False when the bolt was already there: the lock answers travel 0 (docs/protocol.md)."""
        return self.travel_ms > 0


@dataclass(frozen=True)
class BatteryReading:
    state: BatteryState
    idle_mv: int
    loaded_mv: int
    percent: int | None  # None: not yet known
    last_swap: int | None  # lock time (s) of the last registered swap; None: never
    used_mah: int = 0  # charge the lock counted since the last registered swap
    days_left: int | None = None  # at the recent usage rate; None: not yet known


@dataclass(frozen=True)
class SwapRegistration:
    """The lock accepted a new battery: its reading then, and the swap's time (lock time)."""

    state: BatteryState
    idle_mv: int
    loaded_mv: int
    swap_time: int


@dataclass(frozen=True)
class SelfTestResult:
    idle_mv: int
    loaded_mv: int
    battery: BatteryState
    green_off_ms: int
    blinks: int
    red_done_ms: int


@dataclass(frozen=True)
class EventRecord:
    seq: int
    time: int
    type: int
    fields: tuple[int, ...]
