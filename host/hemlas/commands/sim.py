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
from ..i18n import N_, Texts, _, language
from ..settings import service_desk
from .output import BATTERY_TEXT, discharged_guidance, state_name


def _describe_selftest(blinks: int) -> str:
    if blinks == 1:
        return _("red blinked once: battery OK; it is not fully discharged and may be swapped as usual")
    if blinks == 2:
        return _("red blinked twice: battery LOW; swap it")
    return _("no red blink: the battery is fully discharged. Do NOT swap it; "
             "contact {service_desk}").format(service_desk=service_desk())


LED_NAMES = {"green": N_("green"), "red": N_("red")}
# The warnings' levels as a person reads them (the service's JSON keeps the coded ones).
_LEVEL = Texts({"CRITICAL": N_("CRITICAL"), "LOW": N_("LOW"), "stale": N_("stale")})


async def watch_selftest(vb, press: float, out=print) -> list:
    """Print the LED changes as they happen, until the sequence has ended."""
    seen = 0
    deadline = press + 21.0  # the routine's 20 s window, and a little more
    quiet_since = None
    while time.monotonic() < deadline:
        timeline = vb.led_timeline(press)
        for t, led, on in timeline[seen:]:
            out(_("    {t} s  {led} {on}").format(t=f"{t:6.2f}", led=f"{_(LED_NAMES[led]):5}",
                                              on=_("ON ") if on else _("off")))
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
    steps.say("start", _("hemlås {version}: virtual lock {lock_id} on board {board} ({model})\n"
                         "  firmware: the real firmware/ on the MicroPython unix port, {heap_kb} KiB heap\n"
                         "  radio: Bumble virtual link; this process talks to it through bleak ({radio})").format(
                  version=__version__, lock_id=vb.lock_id, board=repr(board["name"]), model=board["model"],
                  heap_kb=vb.heap_kb, radio=f"{ENV_VAR}={os.environ[ENV_VAR]}"),
              version=__version__, lock_id=vb.lock_id, board=board["name"], model=board["model"],
              heap_kb=vb.heap_kb, radio=os.environ[ENV_VAR])
    found = await scan(2.0)
    steps.say("scan", _("scan:    {locks}").format(locks=", ".join(f"{lock.lock_id} ({lock.address})" for lock in found)),
              locks=[{"lock_id": lock.lock_id, "address": lock.address} for lock in found])
    steps.say("key", _("key:     #{key_id} for {person} (technician), valid for 8 hours; the lock checks "
                       "it against its secret, which never leaves the lock").format(
                  key_id=key.record.key_id, person=repr(key.record.person)),
              lock_id=vb.lock_id, key_id=key.record.key_id, person=key.record.person, role="technician",
              not_before=iso(key.record.not_before), not_after=iso(key.record.not_after))
    async with LockClient(vb.lock_id, role=wire.ROLE_TECHNICIAN) as lock:
        status = await lock.status()
        steps.say("status", _("status:  {state}, battery {battery}").format(
                  state=state_name(status.state), battery=BATTERY_TEXT[status.battery]),
                  lock_id=vb.lock_id, **named("state", status.state, LockState),
                  **named("battery", status.battery, BatteryState))
        if status.state != 1:
            result = await lock.lock()
            steps.say("lock", _("lock:    {state} in {ms} ms (bolt confirmed by its limit switch)").format(
                      state=state_name(result.state), ms=result.travel_ms),
                      lock_id=vb.lock_id, **_bolt(result))
        result = await lock.unlock()
        steps.say("unlock", _("unlock:  {state} in {ms} ms (bolt confirmed by its limit switch)").format(
                  state=state_name(result.state), ms=result.travel_ms),
                  lock_id=vb.lock_id, **_bolt(result))
        reading = await lock.battery()
        steps.say("battery", _("battery: {idle_mv} mV idle, {loaded_mv} mV under load, about {percent} % "
                               "left: {state}").format(idle_mv=reading.idle_mv, loaded_mv=reading.loaded_mv,
                                                       percent=reading.percent, state=BATTERY_TEXT[reading.state]),
                  lock_id=vb.lock_id, idle_mv=reading.idle_mv, loaded_mv=reading.loaded_mv,
                  percent=reading.percent, **named("battery", reading.state, BatteryState))
        steps.prose(_("self-test: pressing the lock's button (green on, off within 10 s, red blinks within 20 s)"))
        await _selftest_step(steps, vb)
        records = await lock.read_log()
        steps.say("event_log", _("event log (read over BLE): {n} records").format(n=len(records)) + "\n" + "\n".join(
            f"    #{r.seq:<3} {time.strftime('%H:%M:%S', time.localtime(r.time))} "
            f"{EventType(r.type).name.lower():16} {list(r.fields)}" for r in records),
            lock_id=vb.lock_id, records=[{"seq": r.seq, "at": iso(r.time),
                                          **named("event", r.type, EventType),
                                          "fields": list(r.fields)} for r in records])
    steps.prose("\n" + _("A second lock, {lock_id}, has a fully discharged battery. Unlocking it:").format(
        lock_id=dead_vb.lock_id))
    try:
        async with LockClient(dead_vb.lock_id, role=wire.ROLE_TECHNICIAN) as lock:
            await lock.unlock()
        steps.say("discharged_unlock", _("  (it unlocked)"), lock_id=dead_vb.lock_id, refused=False)
    except BatteryCriticalError as err:
        guidance = discharged_guidance(str(err))
        steps.say("discharged_unlock", guidance, lock_id=dead_vb.lock_id, refused=True,
                  error=str(err), guidance=guidance)
    steps.prose(_("  The self-test on that lock, for comparison:"))
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
                steps.say("provision", _("provisioning over the serial console: {locks}").format(
                    locks=", ".join(provisioned)),
                          lock_ids=provisioned)
                keys = KeyFile()
                issued = store.issue_key(vb.lock_id, "Demo carer", wire.ROLE_TECHNICIAN, now - 60, now + 8 * 3600)
                keys.add(StaffKey.from_issued(issued))
                keys.add(StaffKey.from_issued(store.issue_key(
                    dead.lock_id, "Demo carer", wire.ROLE_TECHNICIAN, now - 60, now + 8 * 3600)))
            asyncio.run(_demo(vb, dead, issued, steps))
            _service_step(steps)
        finally:
            vb.close()
            dead.close()


def _service_step(steps: _Steps) -> None:
    """The fleet service beside the virtual locks: `hemlas serve`'s application over the demo's
    store on a free port, a lock administrator's login, and the lock warnings it answers (what
    a coordinator's start page shows)."""
    import secrets
    import threading

    import httpx
    import uvicorn

    from ..fleet import accounts
    from ..fleet.roles import local_caller
    from ..fleet.store import FleetStore
    from ..service.app import API_PREFIX, create_app

    password = secrets.token_urlsafe(16)
    with FleetStore() as store:
        with store.unit_of_work() as uow:
            accounts.add_account(uow, local_caller("demo"), "demo-admin", "Demo administrator",
                                 "lock-admin", password)
        server = uvicorn.Server(uvicorn.Config(create_app(store), host="127.0.0.1", port=0,
                                               log_level="warning", server_header=False))
        thread = threading.Thread(target=server.run, name="hemlas-serve", daemon=True)
        thread.start()
        try:
            deadline = time.monotonic() + 15
            while not server.started:
                if time.monotonic() > deadline or not thread.is_alive():
                    raise RuntimeError(_("the fleet service did not start"))
                time.sleep(0.02)
            port = server.servers[0].sockets[0].getsockname()[1]
            base = f"http://127.0.0.1:{port}{API_PREFIX}"
            # The service answers in the language asked for: this command's.
            with httpx.Client(base_url=base, timeout=10,
                              headers={"Accept-Language": language()}) as http:
                http.post("/login", json={"login": "demo-admin", "password": password}).raise_for_status()
                warnings = http.get("/warnings").json()
            lines = [_("  {lock_id}: {level} ({reason})").format(
                lock_id=w["lock_id"], level=_LEVEL.get(w["level"], w["level"]), reason=w["reason"])
                for w in warnings] or [_("  none")]
            steps.say("service", _("service: the fleet service (hemlas serve) listened on {url}/ (OpenAPI: "
                                   "{url}/openapi.json);\n  the lock administrator's warnings:").format(url=base)
                      + "\n" + "\n".join(lines), url=base, warnings=warnings)
        finally:
            server.should_exit = True
            thread.join(10)


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
        print(_("Clients: export {variable}={spec}").format(variable=ENV_VAR, spec=radio.spec))
        for i, vb in enumerate(boards):
            print(_("Lock {n} ({lock_id}) serial port: {port}  (mpremote connect {port}; hemlas "
                    "flash --port {port} --board {board})").format(
                n=i + 1, lock_id=vb.lock_id, port=vb.serial_port, board=vb.board_name))
        if len(boards) > 1:
            print(_("Console: type help for the commands, quit to end. Start a line with a lock's "
                    "number (1 to {n}).").format(n=len(boards)), flush=True)
        else:
            print(_("Console: type help for the commands, quit to end."), flush=True)
        sim_console.run(boards, sys.stdin, raw=args.json, out=lambda text: print(text, flush=True))
    except KeyboardInterrupt:
        pass
    finally:
        for vb in boards:
            vb.close()
        radio.close()
        store.close()
