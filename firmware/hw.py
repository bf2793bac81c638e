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
_DEBOUNCE_MS = const(30)  # a push button's contact bounce dies out within this

# Every name a module defines costs the lock's heap (its qstr, a dict slot), so the classes
# here are few and their attributes reuse names machine, hwtrace and lock.py already have
# (pin, level, state, count, trace, kind, present, ...).


class Led:
    """An LED on a pin, lit at `level`; each change goes into the hardware trace."""

    def __init__(self, pin, level, trace, kind):
        self.level = level
        self.pin = Pin(pin, Pin.OUT, value=1 - level)
        self.trace = trace
        self.kind = kind
        self.state = False  # lit

    def on(self):
        self.set(True)

    def off(self):
        self.set(False)

    def set(self, lit):
        self.pin.value(self.level if lit else 1 - self.level)
        if lit != self.state:
            self.state = lit
            self.trace.add(self.kind, 1 if lit else 0)


class Bolt:
    """What moves and senses the bolt, as lock.py takes it (motor, limits and sense alike):

    - the motor on two H-bridge inputs: drive(+1) throws the bolt out (lock), -1 in (unlock);
    - the end switches, closed at `level` (present: the board has both);
    - the motor current, from a shunt amplifier on an ADC pin (hw.sense is None without one).
    """

    def __init__(self, board, trace):
        pins = board["pins"]
        motor = board["motor"]
        self.trace = trace
        self._duty = _DUTY_FULL * motor["duty_pct"] // 100
        out_a = Pin(pins["motor_a"], Pin.OUT, value=0)
        out_b = Pin(pins["motor_b"], Pin.OUT, value=0)
        if motor["pwm"]:
            pwm_a = PWM(out_a, freq=motor["pwm_freq"], duty_u16=0)
            pwm_b = PWM(out_b, freq=motor["pwm_freq"], duty_u16=0)

            def write(a, b):
                pwm_a.duty_u16(a)
                pwm_b.duty_u16(b)

        else:  # plain outputs: any duty above zero is full on

            def write(a, b):
                out_a.value(1 if a else 0)
                out_b.value(1 if b else 0)

        self._set = write
        self.direction = 0
        locked, unlocked = pins["limit_locked"], pins["limit_unlocked"]
        self.present = locked is not None and unlocked is not None
        self.level = 0 if board["limit_active_low"] else 1
        if self.present:
            pull = Pin.PULL_UP if self.level == 0 else Pin.PULL_DOWN
            self.limits = (Pin(locked, Pin.IN, pull), Pin(unlocked, Pin.IN, pull))
        sense = pins["motor_sense"]
        self.adc = ADC(Pin(sense), atten=board["adc"]["atten"]) if sense is not None else None
        self._mv_per_ma = motor["sense_mv_per_ma"]

    def drive(self, direction):
        self.direction = direction
        self.trace.add(hwtrace.MOTOR, 1 if direction > 0 else 2 if direction < 0 else 0)
        self._set(self._duty if direction > 0 else 0, self._duty if direction < 0 else 0)

    def off(self):
        self.direction = 0
        self._set(0, 0)
        self.trace.add(hwtrace.MOTOR, 0)

    async def stop(self):
        self._set(_DUTY_FULL, _DUTY_FULL)  # brake
        self.trace.add(hwtrace.MOTOR, 3)
        self.direction = 0
        await asyncio.sleep_ms(_BRAKE_MS)
        self._set(0, 0)  # coast: no current at rest
        self.trace.add(hwtrace.MOTOR, 0)

    def locked(self):
        return self.present and self.limits[0].value() == self.level

    def unlocked(self):
        return self.present and self.limits[1].value() == self.level

    def current_ma(self):
        adc = self.adc  # None without a current sense: then hw.sense is None too
        return int(adc.read_uv() / 1000 / self._mv_per_ma) if adc else 0


class Button:
    """A debounced push button, pressed at `level`: the IRQ only counts the edge and sets a
    flag; wait_press() does the rest."""

    def __init__(self, pin, level, trace):
        self.trace = trace
        self.level = level
        self._flag = asyncio.ThreadSafeFlag()
        self.count = 0  # edges seen: a small int, so the handler never allocates
        self.woke = False
        self.pin = Pin(pin, Pin.IN, Pin.PULL_UP if level == 0 else Pin.PULL_DOWN)
        self.pin.irq(self._edge, Pin.IRQ_FALLING if level == 0 else Pin.IRQ_RISING)

    def _edge(self, pin):
        self.count += 1
        self._flag.set()

    def wake_press(self):
        """The press that woke the chip from deep sleep: its edge came before the IRQ was set
        up, and the button is likely released by now, so it counts without a reading."""
        self.woke = True
        self._flag.set()

    async def wait_press(self):
        """Return once the button has been quiet for the debounce time and reads pressed."""
        while True:
            await self._flag.wait()
            first_edge = time.ticks_ms()  # within a scheduling delay of the edge itself
            if self.woke:
                self.woke = False
                self.trace.add(hwtrace.BUTTON, 1, first_edge)
                return
            edges = -1
            while edges != self.count:  # contact bounce or noise: wait for it to stop
                edges = self.count
                await asyncio.sleep_ms(_DEBOUNCE_MS)
            self._flag.clear()  # those edges were all the same bounce
            if self.pin.value() == self.level:
                self.trace.add(hwtrace.BUTTON, 1, first_edge)
                return

    def discard_presses(self):
        self._flag.clear()


class BatteryMeter:
    """Battery voltage through the divider, averaged; optionally under a switched test load."""

    def __init__(self, board):
        adc = board["adc"]
        self.adc = ADC(Pin(board["pins"]["battery_adc"]), atten=adc["atten"])
        self._cal = adc
        switch = board["pins"]["battery_load"]  # the test load's MOSFET
        self._load = Pin(switch, Pin.OUT, value=0) if switch is not None else None
        self.has_load = self._load is not None
        load = board["load"]
        self.load_ms = load["settle_ms"] if load else 0
        self.load_ohm = load["ohm"] if load else 1

    def read_mv(self, samples=0):
        n = samples or self._cal["samples"]
        total = 0
        for _ in range(n):
            total += self.adc.read_uv()
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


class Hardware:
    def __init__(self, board):
        pins = board["pins"]
        self.trace = trace = hwtrace.Trace()
        self.motor = self.limits = bolt = Bolt(board, trace)
        self.sense = bolt if bolt.adc is not None else None
        if not bolt.present and self.sense is None:
            raise ValueError("board has neither limit switches nor motor current sense")
        self.button = Button(pins["button"], 0 if board["button_active_low"] else 1, trace)
        lit = 1 if board["led_active_high"] else 0
        self.green = Led(pins["led_green"], lit, trace, hwtrace.GREEN)
        self.red = Led(pins["led_red"], lit, trace, hwtrace.RED)
        self.meter = BatteryMeter(board)
        self.watchdog = machine.WDT(timeout=board["wdt_ms"])
        self.wake_pins = (self.button.pin,)  # and a knock sensor's interrupt, where it runs
        knock_int = pins.get("accel_int")
        # INT1 of a knock sensor: open drain, active low, latched until the firmware reads it
        # (the board's pull-up holds it high when released).
        self.knock_int = Pin(knock_int, Pin.IN) if knock_int is not None else None
        self.pins = pins
        # machine's own functions, called through the hardware layer (no code of ours).
        self.reset_cause = machine.reset_cause
        self.restart = machine.reset
        self.unique_id = machine.unique_id

    def knock_bus(self, cfg):
        """The knock sensor's I2C bus, as board["accel"] says (built only when asked for)."""
        pins = self.pins
        return machine.I2C(cfg["i2c_id"], scl=Pin(pins["i2c_scl"]), sda=Pin(pins["i2c_sda"]), freq=cfg["freq"])

    def safe_state(self):
        """Everything that draws current off: for any way out of the app."""
        self.motor.off()
        self.meter.load_off()
        self.green.off()
        self.red.off()

    def powered_on(self):
        return machine.reset_cause() == machine.PWRON_RESET

    def woke_from_sleep(self):
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
        level = esp32.WAKEUP_ALL_LOW if self.button.level == 0 else esp32.WAKEUP_ANY_HIGH
        # Each chip's build has its own wake sources (MicroPython ports/esp32/modesp32.c:321-333).
        if hasattr(esp32, "wake_on_ext0"):  # the ESP32: the RTC watches one RTC GPIO
            esp32.wake_on_ext0(self.button.pin, level)
        else:  # the ESP32-C3 has no EXT0: a deep-sleep GPIO wake, on GPIO0-5 only; any of
            # the pins at the level wakes it (the knock sensor's INT1 is active low too)
            esp32.wake_on_gpio(self.wake_pins, level)
        machine.deepsleep(ms)

    def rtc_memory(self, data=None):
        """What survives deep sleep (not a power cut): up to 2 KiB on an ESP32."""
        rtc = machine.RTC()
        if data is None:
            return rtc.memory()
        rtc.memory(data)
