# The lock application: builds the hardware from the board file, recovers the log and the
# stored state, reads the bolt position from the sensors, and runs one task per concern.

import asyncio
import gc
import json
import sys
import time
from binascii import hexlify

from micropython import const

import wire
from auth import Auth
from battery import Battery
from clock import Clock
from energy import ChargeMeter
from eventlog import EventLog
from lock import Lock
from power import PowerPolicy
from selftest import BLINK_ON_MS, run_selftest
from store import Store

_FEED_DIVISOR = const(4)  # feed the watchdog four times per timeout: one late feed is no reset
FIRMWARE_VERSION = "0.5.0"  # 0.5: protocol 3 (encrypted sessions, private advertising)


class App:
    def __init__(self, board, hw, log, store, lock_id, secret):
        self.board = board
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
            self.charge.add(self.board["power"]["led_ma"] * 1000, result[3] + BLINK_ON_MS * result[4])
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
        period = self.board["wdt_ms"] // _FEED_DIVISOR
        while True:
            # Fed only by a healthy loop: a task that ended (the radio's, the button's) is a
            # lock nobody can reach, and the reset that follows brings it back.
            if not any(task.done() for task in self.tasks):
                self.hw.watchdog.feed()
            self.clock.keep()
            self.charge.tick()
            await asyncio.sleep_ms(period)


# Written by the console's provision command (console.py), read at every boot.
SECRET_FILE = "secret.bin"  # 32 random bytes; never sent, logged or read back by any command
IDENTITY_FILE = "identity.json"


def read_lock_id(hw):
    """The lock id provisioned into flash, else one from the chip's id."""
    try:
        with open(IDENTITY_FILE) as f:
            return json.load(f)["lock_id"]
    except (OSError, ValueError, KeyError):
        return "HL-" + hexlify(hw.unique_id()).decode()[-6:].upper()


def read_secret():
    try:
        with open(SECRET_FILE, "rb") as f:
            secret = f.read()
    except OSError:
        return None  # not provisioned
    return secret if len(secret) == wire.SECRET_SIZE else None


def boot(board, hw):
    log = EventLog("log", board["log_segments"], board["log_segment_records"])
    store = Store("state.json")
    log.synced = store.get("synced", 0)  # what the host has read: kept until then
    app = App(board, hw, log, store, read_lock_id(hw), read_secret())
    if log.recovered_bytes:
        log.append(wire.EVENT_FAULT, (wire.FAULT_LOG_RECOVERED, log.recovered_bytes))
    if store.was_reset:
        log.append(wire.EVENT_FAULT, (wire.FAULT_STORE_RESET, 0))
    state = app.lock.read_sensors()
    app.policy.resume(hw.powered_on())
    if hw.woke_from_sleep() and app.charge.woke(hw.rtc_memory().decode()):
        # A wake from the power policy's sleep, every few seconds: neither a log record nor a
        # flash write, or the log would drown its visits and the flash would wear out.
        return app
    # The count orders records across power cuts, when the RTC restarts from its epoch.
    boots = store.get("boots", 0) + 1
    store.update(boots=boots)
    log.append(wire.EVENT_BOOT, (hw.reset_cause(), state, boots))
    return app


async def run(board, hw, start):
    app = boot(board, hw)
    gc.collect()
    asyncio.create_task(app.watchdog_task())
    app.tasks.append(asyncio.create_task(app.button_task()))
    if hw.woke_from_sleep() and hw.woke_by_button():
        hw.button.wake_press()  # the press that woke the lock is a press: run the self-test
    lock_id = app.auth.lock_id
    from ble import BleLink  # after the hardware: a board's radio is the last thing up

    # A power policy's short windows advertise faster than an always-awake lock needs to.
    policy = board["power"].get("policy")
    interval = policy.get("adv_interval_ms", 0) if policy else 0
    link = BleLink(app, lock_id, interval or board["ble"]["adv_interval_ms"])
    link.start()
    app.tasks.append(asyncio.create_task(link.run()))
    if app.auth.provisioned:
        app.tasks.append(asyncio.create_task(link.rotate()))
    if board.get("accel"):
        import door  # only a board with a knock sensor pays for it

        knocks = door.watch(app, hw.woke_from_sleep())
        if knocks:
            app.tasks.append(asyncio.create_task(knocks.run()))
            hw.wake_pins = (hw.button.pin, knocks.sensor.pin)
    asyncio.create_task(app.policy.run())
    reply({"ready": time.ticks_diff(time.ticks_ms(), start), "state": app.lock.state,
           "board": board["name"], "next_seq": app.log.next_seq, "lock_id": lock_id,
           "firmware": FIRMWARE_VERSION, "provisioned": app.auth.provisioned})
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

    start = time.ticks_ms()
    hw = Hardware(board.BOARD)
    try:
        asyncio.run(run(board.BOARD, hw, start))
    finally:
        # Whatever ended the app (Ctrl-C on the serial port, an uncaught error): the motor,
        # the test load and the LEDs must not stay on until the watchdog bites.
        hw.safe_state()
