# The hardware layer: the only firmware module that imports machine (and esp32). Everything is built from
# the board file by make_hardware() in the app's entry point, and passed in; nothing here
# touches a pin at import time.

import asyncio
import time

import esp32
import machine
from machine import ADC, PWM, Pin
from micropython import const

import hwtrace
from battery import adc_uv_to_mv

_DUTY_FULL = const(65535)
# machine.wake_reason() after a deep-sleep GPIO wake (the ESP32-C3's): ESP-IDF's
# ESP_SLEEP_WAKEUP_GPIO, which MicroPython's machine has no name for (modmachine.c:76-81).
_GPIO_WAKE = const(7)
_BRAKE_MS = const(20)  # short both windings briefly so the bolt stops at once, then coast


class Led:
    def __init__(self, pin_no, active_high, tracer, kind):
        self._on_level = 1 if active_high else 0
        self._pin = Pin(pin_no, Pin.OUT, value=1 - self._on_level)
        self._trace = tracer
        self._kind = kind
        self._lit = False

    def on(self):
        self._pin.value(self._on_level)
        self._record(True)

    def off(self):
        self._pin.value(1 - self._on_level)
        self._record(False)

    def _record(self, lit):
        if lit != self._lit:
            self._lit = lit
            self._trace.add(self._kind, 1 if lit else 0)


class HBridge:
    """A DC motor on two H-bridge inputs: +1 drives the bolt out (lock), -1 in (unlock)."""

    def __init__(self, pin_a, pin_b, motor, tracer):
        self._trace = tracer
        self._duty = _DUTY_FULL * motor["duty_pct"] // 100
        if motor["pwm"]:
            pwm_a = PWM(Pin(pin_a, Pin.OUT, value=0), freq=motor["pwm_freq"], duty_u16=0)
            pwm_b = PWM(Pin(pin_b, Pin.OUT, value=0), freq=motor["pwm_freq"], duty_u16=0)

            def write(a, b):
                pwm_a.duty_u16(a)
                pwm_b.duty_u16(b)

        else:  # plain outputs: any duty above zero is full on
            out_a = Pin(pin_a, Pin.OUT, value=0)
            out_b = Pin(pin_b, Pin.OUT, value=0)

            def write(a, b):
                out_a.value(1 if a else 0)
                out_b.value(1 if b else 0)

        self._set = write
        self.direction = 0

    def drive(self, direction):
        self.direction = direction
        self._trace.add(hwtrace.MOTOR, 1 if direction > 0 else 2 if direction < 0 else 0)
        if direction > 0:
            self._set(self._duty, 0)
        elif direction < 0:
            self._set(0, self._duty)
        else:
            self._set(0, 0)

    def off(self):
        self.direction = 0
        self._set(0, 0)
        self._trace.add(hwtrace.MOTOR, 0)

    async def stop(self):
        self._set(_DUTY_FULL, _DUTY_FULL)  # brake
        self._trace.add(hwtrace.MOTOR, 3)
        self.direction = 0
        await asyncio.sleep_ms(_BRAKE_MS)
        self._set(0, 0)  # coast: no current at rest
        self._trace.add(hwtrace.MOTOR, 0)


class LimitSwitches:
    def __init__(self, locked_pin, unlocked_pin, active_low=True):
        self.present = locked_pin is not None and unlocked_pin is not None
        self._closed = 0 if active_low else 1
        pull = Pin.PULL_UP if active_low else Pin.PULL_DOWN
        self._locked = Pin(locked_pin, Pin.IN, pull) if self.present else None
        self._unlocked = Pin(unlocked_pin, Pin.IN, pull) if self.present else None

    def locked(self):
        return self._locked is not None and self._locked.value() == self._closed

    def unlocked(self):
        return self._unlocked is not None and self._unlocked.value() == self._closed


class CurrentSense:
    """Motor current from a shunt amplifier on an ADC pin."""

    def __init__(self, pin_no, motor, atten):
        self._adc = ADC(Pin(pin_no), atten=atten)
        self._mv_per_ma = motor["sense_mv_per_ma"]

    def current_ma(self):
        return int(self._adc.read_uv() / 1000 / self._mv_per_ma)


class Button:
    """A debounced push button: the IRQ only sets a flag; wait_press() does the rest."""

    def __init__(self, pin_no, active_low, tracer, debounce_ms=30):
        self._trace = tracer
        self._pressed_level = 0 if active_low else 1
        self.active_low = active_low
        self._debounce_ms = debounce_ms
        self._flag = asyncio.ThreadSafeFlag()
        self._edges = 0
        self._woke = False
        pull = Pin.PULL_UP if active_low else Pin.PULL_DOWN
        self._pin = self.pin = Pin(pin_no, Pin.IN, pull)
        trigger = Pin.IRQ_FALLING if active_low else Pin.IRQ_RISING
        self._pin.irq(self._on_edge, trigger)

    def _on_edge(self, _pin):
        self._edges += 1  # a small int: no allocation in the handler
        self._flag.set()

    def wake_press(self):
        """The press that woke the chip from deep sleep: its edge came before the IRQ was set
        up, and the button is likely released by now, so it counts without a reading."""
        self._woke = True
        self._flag.set()

    def is_pressed(self):
        return self._pin.value() == self._pressed_level

    async def wait_press(self):
        """Return once the button has been quiet for the debounce time and reads pressed."""
        while True:
            await self._flag.wait()
            first_edge = time.ticks_ms()  # within a scheduling delay of the edge itself
            if self._woke:
                self._woke = False
                self._trace.add(hwtrace.BUTTON, 1, first_edge)
                return
            edges = -1
            while edges != self._edges:  # contact bounce or noise: wait for it to stop
                edges = self._edges
                await asyncio.sleep_ms(self._debounce_ms)
            self._flag.clear()  # those edges were all the same bounce
            if self.is_pressed():
                self._trace.add(hwtrace.BUTTON, 1, first_edge)
                return

    def discard_presses(self):
        self._flag.clear()


class BatteryMeter:
    """Battery voltage through the divider, averaged; optionally under a switched test load."""

    def __init__(self, adc_pin, load_pin, adc, load):
        self._adc = ADC(Pin(adc_pin), atten=adc["atten"])
        self._cal = adc
        self._samples = adc["samples"]
        self._load = Pin(load_pin, Pin.OUT, value=0) if load_pin is not None else None
        self.load_ms = load["settle_ms"] if load else 0
        self.load_ohm = load["ohm"] if load else 1
        self.has_load = self._load is not None

    def read_mv(self, samples=0):
        n = samples or self._samples
        total = 0
        for _ in range(n):
            total += self._adc.read_uv()
        return adc_uv_to_mv(total / n, self._cal)

    def load_off(self):
        if self._load is not None:
            self._load.value(0)

    async def loaded_mv(self):
        load = self._load
        if load is None:
            raise ValueError("no test load on this board")
        load.value(1)
        try:
            await asyncio.sleep_ms(self.load_ms)
            return self.read_mv()
        finally:
            load.value(0)


class Watchdog:
    def __init__(self, timeout_ms):
        self._wdt = machine.WDT(timeout=timeout_ms)

    def feed(self):
        self._wdt.feed()


class Hardware:
    def __init__(self, board):
        pins = board["pins"]
        motor = board["motor"]
        atten = board["adc"]["atten"]
        self.trace = hwtrace.Trace()
        self.motor = HBridge(pins["motor_a"], pins["motor_b"], motor, self.trace)
        self.limits = LimitSwitches(
            pins["limit_locked"], pins["limit_unlocked"], board["limit_active_low"]
        )
        sense_pin = pins["motor_sense"]
        self.sense = CurrentSense(sense_pin, motor, atten) if sense_pin is not None else None
        if not self.limits.present and self.sense is None:
            raise ValueError("board has neither limit switches nor motor current sense")
        self.button = Button(pins["button"], board["button_active_low"], self.trace)
        self.green = Led(pins["led_green"], board["led_active_high"], self.trace, hwtrace.GREEN)
        self.red = Led(pins["led_red"], board["led_active_high"], self.trace, hwtrace.RED)
        self.meter = BatteryMeter(pins["battery_adc"], pins["battery_load"], board["adc"], board["load"])
        self.watchdog = Watchdog(board["wdt_ms"])
        self.wake_pins = (self.button.pin,)  # and a knock sensor's interrupt, where it runs
        knock_int = pins.get("accel_int")
        # INT1 of a knock sensor: open drain, active low, latched until the firmware reads it
        # (the board's pull-up holds it high when released).
        self.knock_int = Pin(knock_int, Pin.IN) if knock_int is not None else None
        self._i2c_pins = (pins.get("i2c_scl"), pins.get("i2c_sda"))

    def knock_bus(self, cfg):
        """The knock sensor's I2C bus, as board["accel"] says (built only when asked for)."""
        scl, sda = self._i2c_pins
        return machine.I2C(cfg["i2c_id"], scl=Pin(scl), sda=Pin(sda), freq=cfg["freq"])

    def safe_state(self):
        """Everything that draws current off: for any way out of the app."""
        self.motor.off()
        self.meter.load_off()
        self.green.off()
        self.red.off()

    @staticmethod
    def reset_cause():
        return machine.reset_cause()

    @staticmethod
    def powered_on():
        return machine.reset_cause() == machine.PWRON_RESET

    @staticmethod
    def woke_from_sleep():
        return machine.reset_cause() == machine.DEEPSLEEP_RESET

    def woke_by_button(self):
        reason = machine.wake_reason()
        if reason == machine.EXT0_WAKE:
            return True
        # A deep-sleep GPIO wake is the button's unless the knock sensor still holds its
        # interrupt low: then a knock (or the door) woke the chip, and no self-test runs.
        knock = self.knock_int
        return reason == _GPIO_WAKE and (knock is None or knock.value() == 1)

    def deep_sleep(self, ms):
        """Sleep until ms have passed or the button is pressed; the chip then boots afresh
        (RAM lost, RTC memory kept). Outputs off first: a held pin would drain the battery."""
        self.safe_state()
        level = esp32.WAKEUP_ALL_LOW if self.button.active_low else esp32.WAKEUP_ANY_HIGH
        # Each chip's build has its own wake sources (MicroPython ports/esp32/modesp32.c:321-333).
        if hasattr(esp32, "wake_on_ext0"):  # the ESP32: the RTC watches one RTC GPIO
            esp32.wake_on_ext0(self.button.pin, level)
        else:  # the ESP32-C3 has no EXT0: a deep-sleep GPIO wake, on GPIO0-5 only; any of
            # the pins at the level wakes it (the knock sensor's INT1 is active low too)
            esp32.wake_on_gpio(self.wake_pins, level)
        machine.deepsleep(ms)

    @staticmethod
    def rtc_memory(data=None):
        """What survives deep sleep (not a power cut): up to 2 KiB on an ESP32."""
        rtc = machine.RTC()
        if data is None:
            return rtc.memory()
        rtc.memory(data)

    @staticmethod
    def restart():
        machine.reset()

    @staticmethod
    def unique_id():
        return machine.unique_id()
