# The lock's start-up, once per boot: the log and the stored state recovered, the identity and
# the secret read, the bolt's position from its sensors, one task per concern, the radio last.
# app.run drops this module once start() returns: its code is needed once, and the running
# lock gets its heap back (docs/firmware.md, "Footprint").

import asyncio
import gc
import json
import time
from binascii import hexlify

import wire
from app import FIRMWARE_VERSION, IDENTITY_FILE, SECRET_FILE, App, reply
from eventlog import EventLog
from store import Store


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


def start(board, hw, started):
    """Boot the lock and start its tasks (in the running event loop); answer the ready line
    (started: ticks_ms at power on) and return the App."""
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
    ble = board["ble"]
    link = BleLink(app, lock_id, interval or ble["adv_interval_ms"], ble)
    link.start()
    app.tasks.append(asyncio.create_task(link.run()))
    if app.auth.provisioned:
        app.tasks.append(asyncio.create_task(link.rotate()))
    if board.get("accel"):
        import door  # only a board with a knock sensor pays for it

        knocks = door.watch(app, hw.woke_from_sleep(), board)
        if knocks:
            app.tasks.append(asyncio.create_task(knocks.run()))
            hw.wake_pins = (hw.button.pin, knocks.sensor.pin)
    asyncio.create_task(app.policy.run())
    reply({"ready": time.ticks_diff(time.ticks_ms(), started), "state": app.lock.state,
           "board": board["name"], "next_seq": app.log.next_seq, "lock_id": lock_id,
           "firmware": FIRMWARE_VERSION, "provisioned": app.auth.provisioned})
    return app
