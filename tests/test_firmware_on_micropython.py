"""The firmware logic tests of tests/fw, run unchanged on the MicroPython unix port.

Under CPython pytest runs them directly (with tests/micropython_shim.py); here each module is
run by tests/fw/mpy_runner.py inside the real `micropython`, with the ESP32-sized heap.
"""

import subprocess
from pathlib import Path

import pytest

from hemlas.sim.build import micropython_executable

ROOT = Path(__file__).resolve().parents[1]
FW_TESTS = ROOT / "tests" / "fw"
MODULES = sorted(p.stem for p in FW_TESTS.glob("test_*.py"))


@pytest.mark.parametrize("module", MODULES)
def test_module_passes_on_micropython(module, tmp_path):
    path = f"{ROOT / 'firmware'}:{FW_TESTS}:.frozen"
    result = subprocess.run(
        [micropython_executable(), "-X", "heapsize=96K", str(FW_TESTS / "mpy_runner.py"), module],
        cwd=tmp_path, env={"MICROPYPATH": path}, capture_output=True, text=True, timeout=120,
    )
    lines = result.stdout.splitlines()
    passed = [line for line in lines if line.startswith("PASS ")]
    assert result.returncode == 0, result.stdout + result.stderr
    assert passed, "no test ran:\n" + result.stdout + result.stderr
