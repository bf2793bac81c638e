"""The bench suite must fail a unit whose firmware is wrong: a copy of firmware/ whose self-test
never blinks red (the routine's sign of a fully discharged battery, shown for a good one) is
flashed by the suite as any build is, and its self-test check, and only that one, fails."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from hemlas.boards import FIRMWARE_DIR_ENV, firmware_dir

pytestmark = pytest.mark.virtual_board

HIL_TESTS = Path(__file__).resolve().parent.parent / "hil_tests"


def _broken_copy(tmp_path: Path) -> Path:
    broken = tmp_path / "firmware"
    shutil.copytree(firmware_dir(), broken, ignore=shutil.ignore_patterns("__pycache__"))
    selftest = broken / "selftest.py"
    source = selftest.read_text()
    assert source.count("red.on()") == 1, "selftest.py changed: update how this test breaks it"
    selftest.write_text(source.replace("red.on()", "pass  # broken on purpose: red never lights"))
    return broken


def test_the_bench_suite_fails_a_self_test_that_never_blinks_red(tmp_path):
    junit = tmp_path / "unit.xml"
    env = dict(os.environ, **{FIRMWARE_DIR_ENV: str(_broken_copy(tmp_path)),
                              # Its own build directory: the broken build never meets the others'.
                              "TMPDIR": str(tmp_path)})
    env.pop("HEMLAS_RADIO", None)
    run = subprocess.run([sys.executable, "-m", "pytest", str(HIL_TESTS), "-q", "-p", "no:cacheprovider",
                          f"--junitxml={junit}", "--rootdir", str(HIL_TESTS.parent)],
                         capture_output=True, text=True, timeout=600, env=env, cwd=tmp_path)
    assert run.returncode == 1, run.stdout[-3000:] + run.stderr[-2000:]
    cases = {case.get("name"): case for case in ET.parse(junit).getroot().iter("testcase")}
    failed = {name for name, case in cases.items() if case.find("failure") is not None or case.find("error") is not None}
    assert failed == {"test_selftest_follows_the_routine"}, run.stdout[-3000:]
    message = cases["test_selftest_follows_the_routine"].find("failure").get("message")
    assert "red must blink once for a good battery, blinked 0" in message
    assert len(cases) >= 9  # the rest of the suite ran, and passed, on the same build
