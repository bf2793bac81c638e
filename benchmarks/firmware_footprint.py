"""Firmware footprint on the virtual board: peak GC heap, boot-to-ready time, smallest heap.

Prints figures; passes or fails nothing. Run: .venv/bin/python benchmarks/firmware_footprint.py

- peak live GC heap: the firmware runs the full scenario with the simulated machine module
  collecting garbage before every hardware call and recording gc.mem_alloc(), so the figure is
  live data at its highest, sampled at every pin/ADC access;
- boot-to-ready: from process start (power on) to the firmware's ready line, as the host sees
  it, and the firmware's own figure (from app start, after its imports);
- the smallest firmware heap (KiB) at which the full scenario still passes, found by bisection.
The virtual board runs MicroPython with the firmware's heap plus what the simulated machine,
bluetooth and esp32 modules take (C in flash on a board; measured, and printed first); the
firmware's figures below are net of it.
The scenario is hemlas.sim.scenario.run_full_scenario: boot (radio advertising), lock/unlock, battery, self-test,
event log read, a jam and its recovery.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from hemlas.sim import VirtualBoard, VirtualBoardError
from hemlas.sim.scenario import run_full_scenario


def scenario_passes(heap_kb: int, board: str) -> bool:
    with tempfile.TemporaryDirectory() as flash:
        vb = VirtualBoard(board, flash_dir=Path(flash), heap_kb=heap_kb)
        try:
            vb.start()
            run_full_scenario(vb)
            return vb.crashed is None and vb.running
        except (VirtualBoardError, AssertionError, KeyError):  # KeyError: an error answer
            return False
        finally:
            vb.close()


def boot_times(board: str, runs: int) -> tuple[list[float], list[int]]:
    host_ms, firmware_ms = [], []
    with tempfile.TemporaryDirectory() as flash:
        vb = VirtualBoard(board, flash_dir=Path(flash))
        vb.start()
        for _ in range(runs):
            vb.power_cut()
            start = time.monotonic()
            ready = vb.power_on()
            host_ms.append((time.monotonic() - start) * 1000)
            firmware_ms.append(ready["ready"])
        vb.close()
    return host_ms, firmware_ms


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--board", default="virtual")
    parser.add_argument("--boots", type=int, default=20)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as flash:
        vb = VirtualBoard(args.board, flash_dir=Path(flash), heap_trace=True)
        vb.start()
        run_full_scenario(vb)
        mem = vb.command("mem")
        vb.close()
    sim = vb.sim_heap
    print(f"board: {args.board}")
    print(f"simulated machine/bluetooth/esp32 modules (not on a board): {sim} bytes ({sim / 1024:.1f} KiB)")
    print(f"firmware's peak live GC heap during the full scenario: {vb.heap_peak - sim} bytes "
          f"({(vb.heap_peak - sim) / 1024:.1f} KiB; {vb.heap_peak / 1024:.1f} KiB with the simulated modules)")
    print(f"firmware's live GC heap at rest after the scenario:    {mem['alloc'] - sim} bytes "
          f"({(mem['alloc'] - sim) / 1024:.1f} KiB)")

    host_ms, firmware_ms = boot_times(args.board, args.boots)
    print(f"boot to ready, power on to ready line ({args.boots} boots): "
          f"median {statistics.median(host_ms):.1f} ms, min {min(host_ms):.1f}, max {max(host_ms):.1f}")
    print(f"boot to ready, firmware's own count from app start: median {statistics.median(firmware_ms)} ms")

    lo, hi = 8, 96  # lo fails (or is the floor), hi passes
    if not scenario_passes(hi, args.board):
        print(f"the full scenario FAILS at {hi} KiB")
        return
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if scenario_passes(mid, args.board):
            hi = mid
        else:
            lo = mid
    print(f"smallest firmware heap at which the full scenario passes: {hi} KiB (fails at {lo} KiB; "
          f"-X heapsize adds {sim / 1024:.1f} KiB for the simulated modules)")


if __name__ == "__main__":
    main()
