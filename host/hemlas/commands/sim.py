"""Virtual locks from the command line: the demo, and `hemlas sim`."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import tempfile
import time

from .. import __version__
from ..client import LockClient, scan
from ..codes import EventType
from ..errors import BatteryCriticalError, HemlasError
from ..firmware import wire
from ..radio.config import ENV_VAR
from .output import BATTERY_TEXT, discharged_guidance, state_name


def _describe_selftest(blinks: int) -> str:
    if blinks == 1:
        return "red blinked once: battery OK; it is not fully discharged and may be swapped as usual"
    if blinks == 2:
        return "red blinked twice: battery LOW; swap it"
    return ("no red blink: the battery is fully discharged. Do NOT swap it; "
            "contact the municipality's service desk")


async def watch_selftest(vb, press: float, out=print) -> list:
    """Print the LED changes as they happen, until the sequence has ended."""
    seen = 0
    deadline = press + 21.0  # the routine's 20 s window, and a little more
    quiet_since = None
    while time.monotonic() < deadline:
        timeline = vb.led_timeline(press)
        for t, led, on in timeline[seen:]:
            out(f"    {t:6.2f} s  {led:5} {'ON ' if on else 'off'}")
        if len(timeline) > seen:
            quiet_since = time.monotonic()
        seen = len(timeline)
        green_done = any(led == "green" and not on for _, led, on in timeline)
        if green_done and quiet_since and time.monotonic() - quiet_since > 2.0:
            break  # two quiet seconds after green went out and any blinks: the answer is in
        await asyncio.sleep(0.02)
    return vb.led_timeline(press)


async def _demo(vb, dead_vb, key) -> None:
    board = vb.board
    print(f"hemlås {__version__}: virtual lock {vb.lock_id} on board {board['name']!r} ({board['model']})")
    print(f"  firmware: the real firmware/ on the MicroPython unix port, {vb.heap_kb} KiB heap")
    print(f"  radio: Bumble virtual link; this process talks to it through bleak ({ENV_VAR}={os.environ[ENV_VAR]})")
    found = await scan(2.0)
    print("scan:    " + ", ".join(f"{lock.lock_id} ({lock.address})" for lock in found))
    print(f"key:     #{key.record.key_id} for {key.record.person!r} (technician), valid for 8 hours;"
          f" the lock checks it against its secret, which never leaves the lock")
    async with LockClient(vb.lock_id, role=wire.ROLE_TECHNICIAN) as lock:
        status = await lock.status()
        print(f"status:  {state_name(status.state)}, battery {BATTERY_TEXT[status.battery]}")
        if status.state != 1:
            result = await lock.lock()
            print(f"lock:    {state_name(result.state)} in {result.travel_ms} ms (bolt confirmed by its limit switch)")
        result = await lock.unlock()
        print(f"unlock:  {state_name(result.state)} in {result.travel_ms} ms (bolt confirmed by its limit switch)")
        reading = await lock.battery()
        print(f"battery: {reading.idle_mv} mV idle, {reading.loaded_mv} mV under load, "
              f"about {reading.percent} % left: {BATTERY_TEXT[reading.state]}")
        print("self-test: pressing the lock's button (green on, off within 10 s, red blinks within 20 s)")
        press = vb.press_button()
        timeline = await watch_selftest(vb, press)
        blinks = sum(1 for _, led, on in timeline if led == "red" and on)
        print(f"    {_describe_selftest(blinks)}")
        records = await lock.read_log()
        print(f"event log (read over BLE): {len(records)} records")
        for r in records:
            stamp = time.strftime("%H:%M:%S", time.localtime(r.time))
            print(f"    #{r.seq:<3} {stamp} {EventType(r.type).name.lower():16} {list(r.fields)}")
    print(f"\nA second lock, {dead_vb.lock_id}, has a fully discharged battery. Unlocking it:")
    try:
        async with LockClient(dead_vb.lock_id, role=wire.ROLE_TECHNICIAN) as lock:
            await lock.unlock()
    except BatteryCriticalError as err:
        print(discharged_guidance(str(err)))
    print("  The self-test on that lock, for comparison:")
    press = dead_vb.press_button()
    timeline = await watch_selftest(dead_vb, press)
    blinks = sum(1 for _, led, on in timeline if led == "red" and on)
    print(f"    {_describe_selftest(blinks)}")


def do_demo(args) -> None:
    from ..fleet.store import FleetStore
    from ..keyfile import KeyFile, StaffKey
    from ..sim import VirtualBoard, VirtualRadio

    with VirtualRadio() as radio, tempfile.TemporaryDirectory(prefix="hemlas-demo-") as home:
        os.environ[ENV_VAR] = radio.spec  # this process is the field client
        os.environ["HEMLAS_STORE"] = f"{home}/fleet.sqlite3"  # a demo fleet, not the user's
        os.environ["HEMLAS_KEYS"] = f"{home}/keys.json"
        vb = VirtualBoard(args.board, flash_dir=args.flash, radio=radio)
        dead = VirtualBoard(args.board, radio=radio)
        try:
            if args.battery:
                vb.set_battery(args.battery)
            dead.set_battery("discharged")
            dead.set_bolt(1.0)  # a locked door
            vb.start()
            dead.start()
            now = int(time.time())
            with FleetStore(create=True) as store:
                print(f"provisioning over the serial console: {vb.provision(store)}, {dead.provision(store)}")
                keys = KeyFile()
                issued = store.issue_key(vb.lock_id, "Demo carer", wire.ROLE_TECHNICIAN, now - 60, now + 8 * 3600)
                keys.add(StaffKey.from_issued(issued))
                keys.add(StaffKey.from_issued(store.issue_key(
                    dead.lock_id, "Demo carer", wire.ROLE_TECHNICIAN, now - 60, now + 8 * 3600)))
            asyncio.run(_demo(vb, dead, issued))
        finally:
            vb.close()
            dead.close()


_SIM_HELP = """Virtual lock console. Firmware (serial) commands: status, lock, unlock, battery, selftest,
log [FROM [N]], mem, swap (register a new battery), power [stay|auto]. Hands on the board:
press, battery fresh|low|discharged (the cell's charge), replace fresh|low|discharged (a
battery swap: power off, another cell in, power on), jam [AT], unjam, bolt POSITION,
cut (power off), on (power on), leds. With several locks, start a line with the lock's
number (1, 2, ...). quit ends."""


def do_sim(args) -> None:
    from ..fleet.store import FleetStore
    from ..sim import VirtualBoard, VirtualRadio

    radio = VirtualRadio(args.radio_socket)
    boards = []
    store = FleetStore(create=True)
    try:
        for i in range(args.locks):
            flash = f"{args.flash}/{i + 1}" if args.flash and args.locks > 1 else args.flash
            # serial=True: each lock has a serial port that mpremote and `hemlas flash` use
            # as they would a USB-connected ESP32's.
            vb = VirtualBoard(args.board, flash_dir=flash, radio=radio, serial=True,
                              echo=lambda line, n=i + 1: print(f"[{n} fw] {line}"))
            if args.battery:
                vb.set_battery(args.battery)
            vb.start()
            vb.provision(store)  # over the serial console, as a technician would
            boards.append(vb)
        print(json.dumps({"radio": radio.spec, "store": store.url.render_as_string(hide_password=True), "locks": [
            {"n": i + 1, "lock_id": vb.lock_id, "address": vb.address, "board": vb.board_name,
             "port": vb.serial_port, "flash": str(vb.flash_dir)} for i, vb in enumerate(boards)]}))
        print(f"Clients: export {ENV_VAR}={radio.spec}")
        for i, vb in enumerate(boards):
            print(f"Lock {i + 1} ({vb.lock_id}) serial port: {vb.serial_port}  "
                  f"(mpremote connect {vb.serial_port}; hemlas flash --port {vb.serial_port} --board {vb.board_name})")
        print(_SIM_HELP, flush=True)
        _console(boards)
    except KeyboardInterrupt:
        pass
    finally:
        for vb in boards:
            vb.close()
        radio.close()
        store.close()


def _console(boards) -> None:
    for line in sys.stdin:
        words = line.split()
        if not words:
            continue
        if words[0] == "quit":
            return
        vb = boards[0]
        if len(boards) > 1 and words[0].isdigit():
            index = int(words[0]) - 1
            if not 0 <= index < len(boards):
                print(json.dumps({"error": f"no lock {words[0]}"}))
                continue
            vb, words = boards[index], words[1:]
        try:
            print(json.dumps(_hands(vb, words)), flush=True)
        except (HemlasError, ValueError, IndexError) as err:
            print(json.dumps({"error": str(err)}), flush=True)


def _hands(vb, words):
    op, rest = words[0], words[1:]
    if op == "press":
        return {"pressed_at": vb.press_button()}
    if op == "battery" and rest:
        return {"soc": vb.set_battery(rest[0])}
    if op == "jam":
        at = float(rest[0]) if rest else 0.5
        vb.jam(at)
        return {"jammed_at": at}
    if op == "unjam":
        vb.clear_jam()
        return {"jammed_at": None}
    if op == "bolt":
        vb.set_bolt(float(rest[0]))
        return {"bolt": vb.bolt_position}
    if op == "cut":
        vb.power_cut()
        return {"power": False}
    if op == "on":
        return vb.power_on()
    if op == "replace":
        vb.swap_battery(rest[0] if rest else "fresh")
        return {"replaced": rest[0] if rest else "fresh", "ready": vb.wait_ready()}
    if op == "leds":
        return {"leds": vb.led_timeline()}
    return vb.command(" ".join(words))
