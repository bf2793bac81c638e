# Simulated `machine` for the virtual board: MicroPython code, found on MICROPYPATH before the
# unix port's own `machine`. Every pin, PWM and ADC operation is a request to the CPython
# harness (hemlas.sim.board), which models the motor, bolt, button, LEDs and battery, and
# checks each against the board's chip (hemlas.sim.chips): what the chip's build refuses comes
# back as "!Type message" and is raised here. Kept small: each name and each string of up to
# 10 characters here is a qstr in the firmware's pool (on a board this module is C, in ROM), so
# short request formats end in a space the harness ignores: 11 characters make a constant.
# Pin IRQs (and the simulated bluetooth module's events) arrive as lines on a second socket;
# a task calls the handler, as the port's IRQ dispatch would.

import gc
import os
import socket
import struct
import sys

import asyncio

PWRON_RESET = 1
HARD_RESET = 2
WDT_RESET = 3
DEEPSLEEP_RESET = 4
SOFT_RESET = 5
EXT0_WAKE = 2
TIMER_WAKE = 4

_ctl = None
_handlers = {}  # pin -> (handler, Pin)
_listeners = {}  # first word of an event line -> function(words); the first starts the pump
# The high-water mark of the live GC heap, sampled at hardware calls; None: not traced.
# Benchmarks set HEMLAS_SIM_HEAP_TRACE: each hardware call then collects first, so the figure is
# live data, not garbage awaiting collection. It costs ~1 ms a call, so it is off by default.
_heap_peak = 0 if os.getenv("HEMLAS_SIM_HEAP_TRACE") else None


def _connect():
    path = os.getenv("HEMLAS_SIM_SOCKET")
    if not path:
        raise OSError("HEMLAS_SIM_SOCKET is not set: not on the virtual board")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(struct.pack("<H", socket.AF_UNIX) + path.encode() + b"\0")
    return s


def _call(line, data=None):
    """One request to the harness; data (bytes) follows the line raw, counted in a "#N" word,
    so a notification never costs the heap a hex copy of itself."""
    global _ctl, _heap_peak
    if _ctl is None:
        _ctl = _connect()
        _ctl.send(b"hello ctl\n")
    if _heap_peak is not None:
        gc.collect()
        used = gc.mem_alloc()
        if used > _heap_peak:
            _heap_peak = used
            line = "heap %d ;%s" % (used, line)  # the harness keeps the figure
    if data is None:
        _ctl.send(line.encode() + b"\n")
    else:
        _ctl.send(b"%s #%d\n" % (line.encode(), len(data)))
        _ctl.send(data)
    answer = b""
    while not answer.endswith(b"\n"):
        chunk = _ctl.recv(64)
        if not chunk:
            sys.exit(0)  # the harness went away: the board lost power
        answer += chunk
    answer = answer.strip()
    if answer[:1] == b"!":
        # "!Type message": the chip's MicroPython refuses the request (hemlas.sim.chips says
        # why), raised here as that exception; anything else is the harness's fault.
        kind, _, text = answer[1:].decode().partition(" ")
        if kind == "ValueError":
            raise ValueError(text)
        if kind == "OSError":  # "!OSError errno text", as check_esp_err raises it ("!OSError 19": mp_raise_OSError)
            kind, _, text = text.partition(" ")
            raise OSError(int(kind), text) if text else OSError(int(kind))
        raise OSError(answer[1:].decode())
    return answer


async def _event_pump():
    s = _connect()
    s.send(b"hello evt\n")
    stream = asyncio.StreamReader(s)
    while True:
        line = await stream.readline()
        if not line:
            return
        words = line.split()
        listener = _listeners.get(words[0].decode())
        if listener:
            listener(words)


def _listen(key, handler):
    """Route event lines whose first word is key to handler (used by the simulated bluetooth)."""
    if not _listeners:
        asyncio.create_task(_event_pump())  # held by asyncio's IO queue while it waits
    _listeners[key] = handler


def _pin_event(words):
    entry = _handlers.get(int(words[1]))
    if entry:
        entry[0](entry[1])


class Pin:
    IN = 1
    OUT = 3
    OPEN_DRAIN = 7
    PULL_UP = 2
    PULL_DOWN = 1
    IRQ_FALLING = 2
    IRQ_RISING = 1

    def __init__(self, id, mode=-1, pull=-1, value=None):
        self._id = id = getattr(id, "_id", id)  # a Pin or a GPIO number, as on the port
        _call("pin_init %d %d %d %d" % (id, -1 if mode is None else mode, -1 if pull is None else pull, -1 if value is None else value))

    def value(self, v=None):
        if v is None:
            return int(_call("pin_get %d " % self._id))
        _call("pin_set %d %d" % (self._id, 1 if v else 0))

    def on(self):
        self.value(1)

    def off(self):
        self.value(0)

    def __call__(self, v=None):
        return self.value(v)

    def irq(self, handler=None, trigger=3):
        _handlers[self._id] = (handler, self)
        _call("pin_irq %d %d" % (self._id, trigger))
        _listen("irq", _pin_event)


class PWM:
    def __init__(self, pin, freq=1000, duty_u16=0):
        self._id = getattr(pin, "_id", pin)
        _call("pwm_init %d %d %d" % (self._id, freq, duty_u16))

    def duty_u16(self, value=None):
        if value is None:
            return int(_call("pwm_get %d " % self._id))
        _call("pwm_duty %d %d" % (self._id, value))

    def freq(self, value=None):
        return 0 if value is None else None

    def deinit(self):
        _call("pwm_duty %d 0" % self._id)


class ADC:
    ATTN_0DB = 0
    ATTN_2_5DB = 1
    ATTN_6DB = 2
    ATTN_11DB = 3

    def __init__(self, pin, atten=0):
        self._id = getattr(pin, "_id", pin)
        _call("adc_init %d %d" % (self._id, atten))

    def read_uv(self):
        return int(_call("adc_uv %d " % self._id))


class I2C:
    # The esp32 port's hardware I2C (ports/esp32/machine_i2c.c): the harness checks the id and
    # pins as the chip does and answers for whatever the board has on the bus; a missing device
    # is OSError(19), ENODEV. Only the calls the firmware makes (no timeout=, addrsize=).
    def __init__(self, id=0, scl=None, sda=None, freq=400000):
        self._id = id
        _call("i2c_init %d %d %d %d" % (id, -1 if scl is None else getattr(scl, "_id", scl),
                                        -1 if sda is None else getattr(sda, "_id", sda), freq))

    def scan(self):
        return [int(a) for a in _call("i2c_scan %d " % self._id).split()]

    def readfrom_mem(self, addr, memaddr, nbytes):
        return bytes.fromhex(_call("i2c_rd %d %d %d %d" % (self._id, addr, memaddr, nbytes)).decode())

    def readfrom_mem_into(self, addr, memaddr, buf):
        buf[:] = self.readfrom_mem(addr, memaddr, len(buf))

    def writeto_mem(self, addr, memaddr, buf):
        _call("i2c_wr %d %d %d" % (self._id, addr, memaddr), bytes(buf))


class WDT:
    def __init__(self, id=0, timeout=5000):
        _call("wdt_start %d" % timeout)

    def feed(self):
        _call("wdt_feed")


def reset_cause():
    return int(_call("reset_cause"))


def wake_reason():
    return int(_call("wake_reason"))


class RTC:
    def memory(self, data=None):
        # Kept by the harness through deep sleep, cleared by a power cut, as on an ESP32.
        if data is None:
            answer = _call("rtc_mem_get")
            return b"" if answer == b"-" else bytes.fromhex(answer.decode())
        _call("rtc_mem_set", data.encode() if isinstance(data, str) else bytes(data))


def reset():
    _call("reset")
    sys.exit(0)  # the harness starts the firmware again, as a hard reset would


def soft_reset():
    reset()


def unique_id():
    return bytes.fromhex(_call("unique_id").decode())


def deepsleep(time_ms=0):
    _call("deepsleep %d" % time_ms)
    sys.exit(0)  # the harness powers the chip down and boots it again on the wake
