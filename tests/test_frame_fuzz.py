"""The frame fuzzer (issue 13): 100,000 random and mutated frames, cut into random (and
reordered, dropped, duplicated, empty) fragments, fed straight into the lock's Reassembler and
handle_frame on the MicroPython unix port, in-process (tests/fw/frame_fuzz.py), from fixed
seeds. Invariants: the process lives and nothing it calls raises (no MemoryError, no
traceback), every answer fits MAX_RESPONSE, no session is proven and the lock is never moved
without a key, the unsynced visit record stays, at most 12 noise records. The over-the-air
set (10,000 writes through the virtual board's radio) is tests/test_ble_fuzz.py.

Each seed runs in its own process at the heap the other firmware logic tests get (96 KiB on
the ESP32-like build: the generator's own fragment lists need some of it; the firmware's calls
must not fail).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from interpreters import EACH, executable

ROOT = Path(__file__).resolve().parents[1]
FW_TESTS = ROOT / "tests" / "fw"
SEEDS = {"esp32like": (1, 2, 3, 4), "mpy64": (5,)}  # 4 x 25,000 on the ESP32-like build
PER_SEED = 25_000
HEAP = {"esp32like": "96K", "mpy64": "192K"}  # the 64-bit port's objects are about 1.4x larger


def _run(interpreter: str, seed: int, tmp_path: Path) -> dict:
    cwd = tmp_path / f"seed{seed}"
    cwd.mkdir()
    result = subprocess.run(
        [executable(interpreter), "-X", f"heapsize={HEAP[interpreter]}", str(FW_TESTS / "frame_fuzz.py"), str(seed), str(PER_SEED)],
        cwd=cwd, env={"MICROPYPATH": f"{ROOT / 'firmware'}:{FW_TESTS}:.frozen"},
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, f"the process died (seed {seed}):\n{result.stdout[-2000:]}{result.stderr[-2000:]}"
    return json.loads(result.stdout.splitlines()[-1])


@pytest.mark.parametrize("interpreter", EACH)
def test_fuzzed_frames_and_fragments_break_nothing(interpreter, tmp_path):
    totals = {"frames": 0, "fragments": 0, "answers": 0}
    for seed in SEEDS[interpreter]:
        counts = _run(interpreter, seed, tmp_path)
        assert counts["broken"] == [], f"seed {seed}: {counts['broken'][:10]}"
        for name in totals:
            totals[name] += counts[name]
    print(f"{interpreter}: {totals}")  # the run's figures, with -s
    assert totals["frames"] == PER_SEED * len(SEEDS[interpreter])
    assert totals["answers"] > totals["frames"] // 2, "most inputs are answered (the rest are partial)"
