"""The bench suite on the production board, unchanged: the virtual esp32c3 sleeps between
0.2 s windows (57 s asleep, so the suite keeps it in bench mode and puts it back after the
swap's power-on) and carries the knock sensor, so the knock check runs instead of skipping, as
it would at a technician's bench (docs/flashing.md)."""

from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

pytestmark = pytest.mark.virtual_board

HIL_TESTS = Path(__file__).resolve().parent.parent / "hil_tests"


def test_the_bench_suite_passes_a_sleeping_esp32c3_with_its_knock_check(tmp_path):
    junit = tmp_path / "unit.xml"
    env = dict(os.environ, TMPDIR=os.environ.get("TMPDIR", "/tmp"))
    env.pop("HEMLAS_RADIO", None)
    run = subprocess.run([sys.executable, "-m", "pytest", str(HIL_TESTS), "-q", "-p", "no:cacheprovider",
                          "--board", "esp32c3", f"--junitxml={junit}", "--rootdir", str(HIL_TESTS.parent)],
                         capture_output=True, text=True, timeout=900, env=env, cwd=tmp_path)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    cases = {case.get("name"): case for case in ET.parse(junit).getroot().iter("testcase")}
    skipped = {name for name, case in cases.items() if case.find("skipped") is not None}
    assert not skipped, f"skipped on the production board: {skipped}"
    knock = {p.get("name"): p.get("value") for p in
             cases["test_a_knock_wakes_the_sleeping_unit_for_an_unlock"].iter("property")}
    assert float(knock["knock to confirmed unlock (s)"]) <= 2.5
    asleep = {p.get("name"): p.get("value") for p in
              cases["test_sleep_current_is_within_the_boards_budget"].iter("property")}
    assert float(asleep["asleep (uA)"]) <= float(asleep["budget (uA)"])
