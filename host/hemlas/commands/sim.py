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
from ..codes import BatteryState, EventType, LockState
from ..errors import BatteryCriticalError
from ..firmware import wire
from ..radio.config import ENV_VAR
from . import sim_console
from .formats import iso, named
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


class _Steps:
    """The demo's steps: prose for a person, or with --json one JSON object a line (JSON
    lines), each with its "step", so a program can follow the demo as it runs."""

    def __init__(self, as_json: bool):
        self.as_json = as_json

    def say(self, step: str, human: str, **data) -> None:
        if self.as_json:
            print(json.dumps({"step": step, **data}), flush=True)
        else:
            print(human, flush=True)

    def prose(self, human: str) -> None:
        if not self.as_json:
            print(human, flush=True)


async def _selftest_step(steps: _Steps, vb) -> None:
    press = vb.press_button()
    timeline = await watch_selftest(vb, press, out=steps.prose)
    blinks = sum(1 for _, led, on in timeline if led == "red" and on)
    verdict = _describe_selftest(blinks)
    steps.say("selftest", f"    {verdict}", lock_id=vb.lock_id, blinks=blinks, verdict=verdict,
              leds=[{"t_s": round(t, 3), "led": led, "on": on} for t, led, on in timeline])


def _bolt(result) -> dict:
    return {**named("state", result.state, LockState), "travel_ms": result.travel_ms}


async def _demo(vb, dead_vb, key, steps: _Steps) -> None:
    board = vb.board
    steps.say("start", f"hemlås {__version__}: virtual lock {vb.lock_id} on board {board['name']!r} ({board['model']})\n"
              f"  firmware: the real firmware/ on the MicroPython unix port, {vb.heap_kb} KiB heap\n"
              f"  radio: Bumble virtual link; this process talks to it through bleak ({ENV_VAR}={os.environ[ENV_VAR]})",
              version=__version__, lock_id=vb.lock_id, board=board["name"], model=board["model"],
              heap_kb=vb.heap_kb, radio=os.environ[ENV_VAR])
    found = await scan(2.0)
    steps.say("scan", "scan:    " + ", ".join(f"{lock.lock_id} ({lock.address})" for lock in found),
              locks=[{"lock_id": lock.lock_id, "address": lock.address} for lock in found])
    steps.say("key", f"key:     #{key.record.key_id} for {key.record.person!r} (technician), valid for 8 hours;"
              f" the lock checks it against its secret, which never leaves the lock",
              lock_id=vb.lock_id, key_id=key.record.key_id, person=key.record.person, role="technician",
              not_before=iso(key.record.not_before), not_after=iso(key.record.not_after))
    async with LockClient(vb.lock_id, role=wire.ROLE_TECHNICIAN) as lock:
        status = await lock.status()
        steps.say("status", f"status:  {state_name(status.state)}, battery {BATTERY_TEXT[status.battery]}",
                  lock_id=vb.lock_id, **named("state", status.state, LockState),
                  **named("battery", status.battery, BatteryState))
        if status.state != 1:
            result = await lock.lock()
            steps.say("lock", f"lock:    {state_name(result.state)} in {result.travel_ms} ms (bolt confirmed by its limit switch)",
                      lock_id=vb.lock_id, **_bolt(result))
        result = await lock.unlock()
        steps.say("unlock", f"unlock:  {state_name(result.state)} in {result.travel_ms} ms (bolt confirmed by its limit switch)",
                  lock_id=vb.lock_id, **_bolt(result))
        reading = await lock.battery()
        steps.say("battery", f"battery: {reading.idle_mv} mV idle, {reading.loaded_mv} mV under load, "
                  f"about {reading.percent} % left: {BATTERY_TEXT[reading.state]}",
                  lock_id=vb.lock_id, idle_mv=reading.idle_mv, loaded_mv=reading.loaded_mv,
                  percent=reading.percent, **named("battery", reading.state, BatteryState))
        steps.prose("self-test: pressing the lock's button (green on, off within 10 s, red blinks within 20 s)")
        await _selftest_step(steps, vb)
        records = await lock.read_log()
        steps.say("event_log", f"event log (read over BLE): {len(records)} records\n" + "\n".join(
            f"    #{r.seq:<3} {time.strftime('%H:%M:%S', time.localtime(r.time))} "
            f"{EventType(r.type).name.lower():16} {list(r.fields)}" for r in records),
            lock_id=vb.lock_id, records=[{"seq": r.seq, "at": iso(r.time),
                                          **named("event", r.type, EventType),
                                          "fields": list(r.fields)} for r in records])
    steps.prose(f"\nA second lock, {dead_vb.lock_id}, has a fully discharged battery. Unlocking it:")
    try:
        async with LockClient(dead_vb.lock_id, role=wire.ROLE_TECHNICIAN) as lock:
            await lock.unlock()
        steps.say("discharged_unlock", "  (it unlocked)", lock_id=dead_vb.lock_id, refused=False)
    except BatteryCriticalError as err:
        guidance = discharged_guidance(str(err))
        steps.say("discharged_unlock", guidance, lock_id=dead_vb.lock_id, refused=True,
                  error=str(err), guidance=guidance)
    steps.prose("  The self-test on that lock, for comparison:")
    await _selftest_step(steps, dead_vb)


def do_demo(args) -> None:
    """The demo; with --json, JSON lines: one object per step (see _Steps)."""
    from ..fleet.store import FleetStore
    from ..keyfile import KeyFile, StaffKey
    from ..sim import VirtualBoard, VirtualRadio

    with VirtualRadio() as radio, tempfile.TemporaryDirectory(prefix="hemlas-demo-") as home:
        os.environ[ENV_VAR] = radio.spec  # this process is the field client
        os.environ["HEMLAS_STORE"] = f"{home}/fleet.sqlite3"  # a demo fleet, not the user's
        os.environ["HEMLAS_KEYS"] = f"{home}/keys.json"
        steps = _Steps(args.json)
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
                provisioned = [vb.provision(store), dead.provision(store)]
                steps.say("provision", "provisioning over the serial console: " + ", ".join(provisioned),
                          lock_ids=provisioned)
                keys = KeyFile()
                issued = store.issue_key(vb.lock_id, "Demo carer", wire.ROLE_TECHNICIAN, now - 60, now + 8 * 3600)
                keys.add(StaffKey.from_issued(issued))
                keys.add(StaffKey.from_issued(store.issue_key(
                    dead.lock_id, "Demo carer", wire.ROLE_TECHNICIAN, now - 60, now + 8 * 3600)))
            asyncio.run(_demo(vb, dead, issued, steps))
        finally:
            vb.close()
            dead.close()


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
        print("Console: type help for the commands, quit to end."
              + (" Start a line with a lock's number (1 to %d)." % len(boards) if len(boards) > 1 else ""),
              flush=True)
        sim_console.run(boards, sys.stdin, raw=args.json, out=lambda text: print(text, flush=True))
    except KeyboardInterrupt:
        pass
    finally:
        for vb in boards:
            vb.close()
        radio.close()
        store.close()
