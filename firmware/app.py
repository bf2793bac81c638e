# The lock application: builds the hardware from the board file, starts the lock (startup.py:
# the log and the stored state recovered, the bolt read from its sensors, one task per
# concern) and serves the serial port.

import asyncio
import gc
import json
import sys
import time
from micropython import const

import wire
from auth import Auth
from battery import Battery
from clock import Clock
from energy import ChargeMeter
from lock import Lock
from power import PowerPolicy
from selftest import BLINK_ON_MS, run_selftest

_FEED_DIVISOR = const(4)  # feed the watchdog four times per timeout: one late feed is no reset
FIRMWARE_VERSION = "0.5.0"  # 0.5: protocol 3 (encrypted sessions, private advertising)


class App:
    def __init__(self, board, hw, log, store, lock_id, secret):
        # What the running lock reads of the board file: run() drops the file after start-up.
        self.name = board["name"]
        self.wdt_ms = board["wdt_ms"]
        self.led_ma = board["power"]["led_ma"]
        self.hw = hw
        self.log = log
        self.store = store
        self.clock = Clock(store)
        self.auth = Auth(lock_id, secret, self.clock, log, store)
        self.power = asyncio.Lock()
        self.charge = ChargeMeter(board["power"], board["battery"]["capacity_mah"], store, self.clock)
        self.battery = Battery(hw.meter, board["battery"], log, store, self.charge)
        self.lock = Lock(hw.motor, hw.limits, hw.sense, self.battery, log, store, board["motor"], self.power)
        self.policy = PowerPolicy(self, board["power"].get("policy"))
        self.busy = False  # a self-test is running
        self.tasks = []  # the event loop's long-lived tasks: the watchdog is fed while all run
        self.firmware_version = FIRMWARE_VERSION
        # DEVICE_INFO's answer, only inside a session (no Device Information service: anyone
        # who connects could read it).
        self.device_info = "%s\n%s\n%s\n" % (board["model"], FIRMWARE_VERSION, board["name"])

    async def register_battery_swap(self, key_id=0):
        async with self.power:  # the test load never overlaps a motor run
            return await self.battery.register_swap(key_id)

    async def measure_battery(self):
        async with self.power:  # the test load never overlaps a motor run
            return await self.battery.check()

    async def selftest(self):
        """Run the self-test unless one is running; return its result or None."""
        if self.busy:
            return None
        self.busy = True
        try:
            result = await run_selftest(self.hw.green, self.hw.red, self.battery, self.log, self.power)
            self.charge.add(self.led_ma * 1000, result[3] + BLINK_ON_MS * result[4])
            return result
        finally:
            self.busy = False

    async def button_task(self):
        button = self.hw.button
        while True:
            await button.wait_press()
            try:
                await self.selftest()
            except Exception as err:  # a flash or ADC fault must not end the button for good
                self.hw.green.off()
                self.fault(err)
            button.discard_presses()  # presses during the test do not queue another

    def fault(self, err):
        gc.collect()  # most faults are a full heap: make room to record this one
        try:
            self.log.append(wire.EVENT_FAULT, (wire.FAULT_TASK, 0))
        except (OSError, MemoryError):
            pass  # the log itself failed: nothing more to do than carry on
        try:
            print("fault:", repr(err))
        except MemoryError:
            pass

    async def watchdog_task(self):
        period = self.wdt_ms // _FEED_DIVISOR
        while True:
            # Fed only by a healthy loop: a task that ended (the radio's, the button's) is a
            # lock nobody can reach, and the reset that follows brings it back.
            if not any(task.done() for task in self.tasks):
                self.hw.watchdog.feed()
            self.clock.keep()
            self.charge.tick()
            await asyncio.sleep_ms(period)


# Written by the console's provision command (console.py), read at every boot (startup.py).
SECRET_FILE = "secret.bin"  # 32 random bytes; never sent, logged or read back by any command
IDENTITY_FILE = "identity.json"


async def run(hw, started):
    import board
    import startup

    app = startup.start(board.BOARD, hw, started)
    # Start-up's code runs once per boot, and the board file is read by then (App and the
    # parts keep what they use): dropped, both are heap the running lock gets back. Emptied
    # first: dropping the module alone freed nothing (measured), something still points at
    # the dict (a stale word on the C stack, which the GC scans conservatively, most likely).
    board.BOARD.clear()
    del startup, board, sys.modules["startup"], sys.modules["board"]
    gc.collect()
    await serial(app, asyncio.StreamReader(sys.stdin))
    while True:  # stdin closed (no serial host): keep serving the button
        await asyncio.sleep_ms(60_000)


def reply(obj):
    """One answer line on the serial port: "@" and JSON, so a program tells answers from other
    output. Streamed: json.dumps() and "@" + ... would hold two or three copies of a log page
    at once, and a fragmented heap may not have that much contiguous room."""
    out = sys.stdout
    out.write("@")
    json.dump(obj, out)
    out.write("\n")


async def serial(app, stream):
    """The serial port. Its console is loaded at the first byte a host sends: a lock in the
    field has no serial host, and the console's code and names are heap it would never use
    (docs/firmware.md, "Footprint")."""
    while True:
        first = await stream.read(1)
        if not first:
            return  # stdin closed
        try:
            from console import Console
        except MemoryError:
            gc.collect()
            continue  # that byte is lost; the host's next one tries again
        await Console(app).serve(stream, first)
        return


def main():
    import board
    from hw import Hardware

    started = time.ticks_ms()
    hw = Hardware(board.BOARD)
    del board  # run() has it from sys.modules, and drops it there
    try:
        asyncio.run(run(hw, started))
    finally:
        # Whatever ended the app (Ctrl-C on the serial port, an uncaught error): the motor,
        # the test load and the LEDs must not stay on until the watchdog bites.
        hw.safe_state()
