"""The virtual board's pins: what the simulated `machine` asks, answered from the model.

Maps each GPIO number to its role from the board file (motor_a, button, battery_adc, accel_int,
...), turns output levels and PWM duties into loads on the circuit, and input reads and ADC
conversions into what the model says at that instant; I2C transactions go to the parts on the
board's bus (sim/lis2dw12.py, the knock sensor, feeling the door of sim/door.py). Every request
is first checked against the board's chip (hemlas.sim.chips): what that chip's MicroPython
refuses is answered "!Type message".
"""

from __future__ import annotations

import hashlib
import random
import threading

from .chips import WAKE_REASON, Chip, Refusal
from .door import Door, KnockSensor
from .physics import Circuit

_IRQ_RISING = 1
_IRQ_FALLING = 2
_ATTEN_MAX_UV = {0: 950_000, 1: 1_250_000, 2: 1_750_000, 3: 3_100_000}  # ESP32 ADC full scale
_ADC_NOISE_UV = 1_500  # the ESP32 ADC's noise at the pin, one sigma
_DUTY_FULL = 65535
_WAKE_BY_PIN = 2  # what the board records for a wake by the armed pin


class PinBank:
    def __init__(self, board: dict, now: float, send_irq, unit_id: str = ""):
        self.board = board
        self.chip = Chip.for_board(board)
        self.lock = threading.RLock()
        self.roles = {pin: role for role, pin in board["pins"].items() if pin is not None}
        self.circuit = Circuit.for_board(board, now)
        self._send_irq = send_irq
        self._unique_id = hashlib.sha256((unit_id or board["name"]).encode()).hexdigest()[:12]
        self._random = random.Random(1)
        self.levels: dict[int, float] = {}  # output pin -> level 0..1 (PWM duty as a fraction)
        self.irq_triggers: dict[int, int] = {}
        self.button_pressed = False
        self.leds: list[tuple[float, str, bool]] = []
        self.restart_requested: str | None = None
        self.browned_out = False
        self.led_on = {"green": False, "red": False}
        # Power states besides the pins: the radio's, and deep sleep's (kept by the board).
        self.advertising = False
        self.adv_interval_ms = 100
        self.connections = 0
        self.asleep = False
        self.powered = True  # False: the battery is out, nothing draws current
        self.booting = False  # from a wake until the firmware runs: ROM and MicroPython start-up
        self.rtc_memory = b""  # kept through deep sleep, lost with power
        # The wake pin the last deep sleep armed, (pin, level) (the button's if it is one of them),
        # and how: "ext0"/"ext1" (ESP32) or "gpio" (the C3's deep-sleep GPIO wake): the board's
        # hands end a sleep on it; the kind decides the wake reason the chip then reports.
        self.wake_ext0: tuple[int, int] | None = None
        self.wake_kind: str | None = None
        self.wake_pins: list[tuple[str, int, int]] = []  # every (kind, pin, level) the sleep armed
        # The door, and the knock sensor on it (its I2C bus and INT1 wire): powered by the
        # battery, not the MCU, so it runs on through deep sleep and resets.
        self.door = Door()
        self.sensor = KnockSensor.for_board(board, self.door, now)
        self.sleep_ms: int | None = None
        self.wake_reason = 0
        self._update_base_load(now)

    # ---- requests from the firmware ------------------------------------------------------

    def handle(self, words: list[str], now: float) -> str:
        try:
            return self._handle(words, now)
        except Refusal as refusal:
            return refusal.answer()

    def _handle(self, words: list[str], now: float) -> str:
        self.advance(now)
        op = words[0]
        if op == "pin_init":
            pin, mode, _pull, value = (int(w) for w in words[1:5])
            self.chip.check_pin_init(pin, mode)
            if mode == 3 and value >= 0:
                self._set_level(pin, float(value), now)
            return "ok"
        if op == "pin_set":
            self._set_level(int(words[1]), float(words[2]), now)
            return "ok"
        if op == "pin_get":
            return str(self._read(int(words[1])))
        if op == "pin_irq":
            self.irq_triggers[int(words[1])] = int(words[2])
            return "ok"
        if op == "pwm_init":
            self.chip.pin_id(int(words[1]))
            self._set_level(int(words[1]), int(words[3]) / _DUTY_FULL, now)
            return "ok"
        if op == "pwm_duty":
            self._set_level(int(words[1]), int(words[2]) / _DUTY_FULL, now)
            return "ok"
        if op == "pwm_get":
            return str(int(self.levels.get(int(words[1]), 0.0) * _DUTY_FULL))
        if op == "adc_init":
            self.chip.check_adc(int(words[1]))
            return "ok"
        if op == "adc_uv":
            return str(self._adc_uv(int(words[1])))
        if op in ("wdt_start", "wdt_feed", "reset_cause"):
            return "ok"  # the board object keeps the watchdog and the reset cause
        if op == "reset":
            self.restart_requested = "hard"
            return "ok"
        if op == "deepsleep":
            self._arm_deepsleep(self.chip.deepsleep_wake())  # raises where the chip cannot
            self.restart_requested = "deepsleep"
            self.sleep_ms = int(words[1])
            return "ok"
        if op == "wake_on":  # esp32.<function>(pins, level): "[None]" and -1 keep what is set
            pins = words[3][1:-1]
            self.chip.wake_on(words[1], None if pins == "None" else [int(p) for p in pins.split(",") if p],
                              None if words[2] == "-1" else int(words[2]))
            return "ok"
        if op == "wake_absent":  # the wake functions the chip's esp32 module has not
            return " ".join(self.chip.absent_wake_functions())
        if op == "wake_reason":
            if self.wake_reason == _WAKE_BY_PIN and self.wake_kind:
                return str(WAKE_REASON[self.wake_kind])
            return str(self.wake_reason)
        if op == "rtc_mem_set":
            data = bytes.fromhex(words[1]) if words[1] != "-" else b""
            if len(data) > 2048:  # mp: machine_rtc.c:60, 178-179 (MICROPY_HW_RTC_USER_MEM_MAX)
                raise Refusal("ValueError", "buffer too long")
            self.rtc_memory = data
            return "ok"
        if op == "rtc_mem_get":
            return self.rtc_memory.hex() or "-"
        if op == "unique_id":
            return self._unique_id  # six bytes, like an ESP32's base MAC
        if op.startswith("i2c_"):  # machine.I2C
            answer = self.sensor.request(op, words[1:], self.chip, now)
            self.tick(now)  # a read of a source register may release INT1; a write may route it
            return answer
        raise ValueError(f"unknown request {op!r}")

    def _arm_deepsleep(self, armed: list[tuple[str, int, int]]) -> None:
        """The wake pin the hands may press in this sleep: the button's if armed, else the first."""
        self.wake_ext0, self.wake_kind = None, None
        self.wake_pins = list(armed)
        for kind, pin, level in armed:
            if self.wake_ext0 is None or pin == self.board["pins"]["button"]:
                self.wake_ext0, self.wake_kind = (pin, level), kind

    def wake_due(self, seen: set[tuple[int, int]] = frozenset()) -> str | None:
        """The kind of wake the armed pins give now (or gave at a level in seen, (pin, level)
        pairs the knock sensor's INT1 passed through since the last look), else None. The wakes
        are level-triggered: a pin already at its level when the chip sleeps wakes it at once.
        ext1 with level 0 wants every pin low (ESP32 "ALL_LOW"); otherwise any one pin will do.
        Only pins something drives are watched: the button and the knock sensor's INT1."""
        watched = {self.board["pins"]["button"], self.sensor.int_pin}
        for kind in ("ext0", "ext1", "gpio"):
            for level in (0, 1):
                pins = [pin for k, pin, lv in self.wake_pins if k == kind and lv == level]
                hits = [pin in watched and (self._read(pin) == level or (pin, level) in seen) for pin in pins]
                if hits and (all(hits) if kind == "ext1" and level == 0 else any(hits)):
                    return kind
        return None

    def tick(self, now: float) -> set[tuple[int, int]]:
        """Run the knock sensor to now; INT1's edges reach the firmware's Pin.irq as a button's
        do. Returns the (pin, level) pairs INT1 passed through, for a sleep's wake."""
        pin = self.sensor.int_pin
        levels = self.sensor.tick(now)
        for level in levels:
            if not self.asleep and self.irq_triggers.get(pin, 0) & (_IRQ_RISING if level else _IRQ_FALLING):
                self._send_irq(pin)
        return {(pin, level) for level in levels}

    def _role(self, pin: int) -> str:
        return self.roles.get(pin, "")

    def _set_level(self, pin: int, level: float, now: float) -> None:
        self.levels[pin] = level
        role = self._role(pin)
        if role in ("motor_a", "motor_b"):
            self._update_motor(now)
        elif role in ("led_green", "led_red"):
            name = role[4:]
            on = (level > 0) == self.board["led_active_high"]
            if on != self.led_on[name]:
                self.led_on[name] = on
                self.leds.append((now, name, on))
            self._update_base_load(now)
        elif role == "battery_load":
            self.circuit.test_load_on = level > 0
            self.circuit.settle(now)
        self._check_brownout()

    def _update_motor(self, now: float) -> None:
        a = self.levels.get(self.board["pins"]["motor_a"], 0.0)
        b = self.levels.get(self.board["pins"]["motor_b"], 0.0)
        if a > 0 and b == 0:
            self.circuit.bolt.set_drive(now, 1, a)
        elif b > 0 and a == 0:
            self.circuit.bolt.set_drive(now, -1, b)
        else:
            self.circuit.bolt.set_drive(now, 0, 0.0)  # coast, or brake (both high)
        self.circuit.settle(now)

    def _update_base_load(self, now: float) -> None:
        """The current of the power state the firmware is in, besides the motor and test load."""
        self.circuit.advance(now)  # the time so far at the old draw
        power = self.board["power"]
        if not self.powered:
            self.circuit.base_ma = 0.0
        elif self.asleep:
            self.circuit.base_ma = power["sleep_ua"] / 1000
        else:
            leds = sum(1 for on in self.led_on.values() if on)
            radio = 0.0
            if not self.booting:
                if self.connections:
                    radio = power["conn_ma"]
                elif self.advertising:  # adv_ma is at 100 ms: the same charge per event
                    radio = power["adv_ma"] * 100 / self.adv_interval_ms
            self.circuit.base_ma = power["active_ma"] + leds * power["led_ma"] + radio
        self.circuit.settle(now)

    def set_radio(self, advertising: bool, connections: int, now: float, interval_ms: float = 0) -> None:
        with self.lock:
            self.advertising, self.connections = advertising, connections
            if interval_ms:
                self.adv_interval_ms = interval_ms
            self._update_base_load(now)

    def set_powered(self, powered: bool, now: float) -> None:
        with self.lock:
            self.powered = powered
            self._update_base_load(now)

    def set_sleep(self, asleep: bool, now: float, booting: bool = False) -> None:
        with self.lock:
            self.asleep, self.booting = asleep, booting
            if asleep:
                self.advertising, self.connections = False, 0
            self._update_base_load(now)

    def _read(self, pin: int) -> int:
        role = self._role(pin)
        bolt = self.circuit.bolt
        if role == "button":
            pressed_level = 0 if self.board["button_active_low"] else 1
            return pressed_level if self.button_pressed else 1 - pressed_level
        if role == "accel_int" and self.sensor.int_pin is not None:
            return self.sensor.level
        if role in ("limit_locked", "limit_unlocked"):
            closed = bolt.at_locked_end() if role == "limit_locked" else bolt.at_unlocked_end()
            closed_level = 0 if self.board["limit_active_low"] else 1
            return closed_level if closed else 1 - closed_level
        return 1 if self.levels.get(pin, 0.0) > 0 else 0

    def _adc_uv(self, pin: int) -> int:
        role = self._role(pin)
        if role == "battery_adc":
            cal = self.board["adc"]
            pin_mv = (self.circuit.supply_mv - cal["offset_mv"]) / (cal["divider"] * cal["gain"])
        elif role == "motor_sense":
            pin_mv = self.circuit.bolt.motor_ma * self.board["motor"]["sense_mv_per_ma"]
        else:
            pin_mv = 0.0
        uv = pin_mv * 1000 + self._random.gauss(0.0, _ADC_NOISE_UV)
        return int(min(max(uv, 0), _ATTEN_MAX_UV[self.board["adc"]["atten"]]))

    # ---- the model and the hands ---------------------------------------------------------

    def advance(self, now: float) -> None:
        self.circuit.advance(now)
        self._check_brownout()

    def _check_brownout(self) -> None:
        if self.circuit.supply_mv < self.board["power"]["brownout_mv"]:
            self.browned_out = True

    def set_button(self, pressed: bool, now: float) -> None:
        if pressed == self.button_pressed:
            return
        self.button_pressed = pressed
        pin = self.board["pins"]["button"]
        trigger = self.irq_triggers.get(pin, 0)
        falling = pressed == self.board["button_active_low"]  # level goes 1 -> 0
        if trigger & (_IRQ_FALLING if falling else _IRQ_RISING):
            self._send_irq(pin)

    def power_lost(self, now: float) -> None:
        """Every output drops when the MCU loses power or resets."""
        self.advance(now)
        self.levels.clear()
        self.irq_triggers.clear()
        self.sensor.controllers.clear()  # the I2C controllers are the MCU's; the parts keep their state
        for name in self.led_on:
            if self.led_on[name]:
                self.led_on[name] = False
                self.leds.append((now, name, False))
        self.circuit.test_load_on = False
        self.circuit.bolt.set_drive(now, 0, 0.0)
        self.advertising, self.connections = False, 0
        self._update_base_load(now)
        self.browned_out = False
        self.chip.new_boot()  # the wake configuration is in RAM (machine_rtc.c:84)
