"""The bench on the virtual board: time to flash and provision one unit, and the HIL suite's run.

Prints figures; passes or fails nothing. Run: .venv/bin/python benchmarks/bench_flash.py

The virtual serial port has no baud rate: a real ESP32 at 115200 baud moves the same bytes in
roughly bytes x 10 / 115200 s more (printed beside), plus its own boot times.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from hemlas.fleet.store import FleetStore
from hemlas.flashing import flash
from hemlas.radio.config import ENV_VAR
from hemlas.sim import VirtualBoard, VirtualRadio

RUNS = 5


def main() -> None:
    fresh, reflash = [], []
    size, confirmed = 0, set()
    # One board, wiped between runs: a new unit each time, without a board's start-up. A
    # virtual radio, so each flash ends by hearing the unit advertise, as at a bench with one.
    with tempfile.TemporaryDirectory() as home, VirtualRadio() as radio:
        os.environ[ENV_VAR] = radio.spec
        flash_dir = Path(home) / "flash"
        vb = VirtualBoard(serial=True, factory_image=False, power_policy=None, flash_dir=flash_dir, radio=radio)
        vb.start()
        try:
            for run in range(RUNS):
                if run:
                    vb.power_cut()
                    shutil.rmtree(flash_dir)
                    flash_dir.mkdir()
                    vb.power_on()
                with FleetStore(f"{home}/fleet-{run}.sqlite3") as store:
                    report = flash(vb.serial_port, "virtual", store)
                    fresh.append(report.seconds)
                    size = report.bytes
                    confirmed.add(report.confirmed["by"])
                    reflash.append(flash(vb.serial_port, "virtual", store).seconds)
        finally:
            vb.close()
    print(f"flash + verify + provision a blank unit: median {statistics.median(fresh):.2f} s "
          f"(min {min(fresh):.2f}, max {max(fresh):.2f}; {RUNS} runs; {size} bytes, "
          f"+{size * 10 / 115200:.1f} s of wire time at 115200 baud on a real unit; confirmed over "
          f"{', '.join(sorted(confirmed))})")
    print(f"re-flash a provisioned unit (identity kept): median {statistics.median(reflash):.2f} s")
    start = time.monotonic()
    result = subprocess.run([sys.executable, "-m", "pytest", str(Path(__file__).parents[1] / "hil_tests"), "-q",
                             "-p", "no:cacheprovider"], capture_output=True, text=True)
    print(f"HIL suite on the virtual board: {time.monotonic() - start:.1f} s "
          f"({result.stdout.strip().splitlines()[-1] if result.stdout.strip() else 'no output'})")


if __name__ == "__main__":
    main()
