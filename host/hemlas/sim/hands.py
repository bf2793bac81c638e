"""What a test does to the virtual board with its hands: press the button, make contact noise,
jam or move the bolt, put in a cell, knock on the door, kick it, open and close it; and what it
sees: the LEDs and the motor over time, whether the door is open.
"""

from __future__ import annotations

import threading
import time

from ..errors import VirtualBoardError


class Hands:
    """The part of VirtualBoard that a test touches the lock through."""

    def press_button(self, hold_s: float = 0.3, bounce: int = 4) -> float:
        """Press and release the button in the background; return the press time (monotonic)."""
        start = time.monotonic()
        threading.Thread(target=self._press, args=(hold_s, bounce), daemon=True).start()
        return start

    def _press(self, hold_s: float, bounce: int) -> None:
        for edge in range(bounce * 2 + 1):  # ends pressed: an odd count of level changes
            with self._lock:
                self.pins.set_button(edge % 2 == 0, time.monotonic())
                if edge == 0:
                    self._wake_if_armed()  # the RTC watches the pin in deep sleep
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

    # ---- the door (sim/door.py says what each event is, physically) ----------------------

    def knock(self, raps: int = 3, mg: float = 600.0) -> float:
        """Knock on the door: raps 150 ms apart, each peaking at mg on the sensor's Z; returns
        the first rap's time (monotonic). The sensor feels it as it samples, in wall time."""
        with self._lock:
            return self.pins.door.knock(time.monotonic(), raps, mg)

    def kick(self, mg: float = 4000.0) -> float:
        """One hard blow on the door (forced entry); returns its time."""
        with self._lock:
            return self.pins.door.kick(time.monotonic(), mg)

    def open_door(self, angle_deg: float = 45.0, seconds: float = 1.5) -> float:
        """Swing the door open (it is open from the start of the swing); returns the start."""
        with self._lock:
            return self.pins.door.open(time.monotonic(), angle_deg, seconds)

    def close_door(self, seconds: float = 1.0, impact_mg: float = 1500.0) -> float:
        """Swing the door shut against its frame; returns the impact's time (closed from then)."""
        with self._lock:
            return self.pins.door.close(time.monotonic(), seconds, impact_mg)

    @property
    def door_open(self) -> bool:
        with self._lock:
            return self.pins.door.is_open(time.monotonic())

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
