"""The bench suite (hil_tests/) at the bench: a unit on a serial port, the fleet store as the
technician's configuration names it. Two units in a row on one store and one port; what the
suite makes for itself stays out of the fleet store, and each unit gets its own reports."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from hemlas.fleet.store import FleetStore

pytestmark = pytest.mark.virtual_board

SUITE = Path(__file__).resolve().parents[1] / "hil_tests"
sys.path.insert(0, str(SUITE))  # the suite's bench module, for its prompts

from bench import BENCH_KEY_IDS_FROM, ask, parse_microamps, parse_millivolts  # noqa: E402


def _bench_run(port: str, store: Path, report_dir: Path, radio) -> subprocess.CompletedProcess:
    """`hemlas hil --target serial:PORT` as a technician runs it, the checks that need no hands."""
    env = {**os.environ, "HEMLAS_STORE": str(store), "HEMLAS_RADIO": radio.spec}
    return subprocess.run(
        [sys.executable, "-m", "pytest", str(SUITE), "-p", "no:cacheprovider", "--rootdir", str(SUITE),
         "--target", f"serial:{port}", "--board", "virtual", "-m", "not human",
         "-k", "flashed_and_provisioned or another_lock or kept_across",
         "--junitxml", str(report_dir / "running.xml"), "--report-dir", str(report_dir)],
        env=env, capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL)


def test_two_units_on_one_store_and_port_leave_only_themselves_in_the_fleet_store(tmp_path, radio):
    from hemlas.sim import VirtualBoard

    store, reports = tmp_path / "fleet.sqlite3", tmp_path / "reports"
    with FleetStore(str(store)) as fleet:  # a fleet with a carer's key already (key id 1)
        fleet.add_lock("HL-FIELD1", "virtual", "1.0", os.urandom(32))
        fleet.issue_key("HL-FIELD1", "Carer Anna", 1, 0, 2**31)
    flashed = []
    for n in range(2):
        with VirtualBoard("virtual", flash_dir=tmp_path / f"unit{n}", serial=True, factory_image=False,
                          power_policy=None, radio=radio) as unit:
            result = _bench_run(unit.serial_port, store, reports, radio)
            assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
            flashed.append(unit.command("status")["lock_id"])
    with FleetStore(str(store)) as fleet:
        assert sorted(lock.lock_id for lock in fleet.locks()) == sorted(["HL-FIELD1", *flashed])
        assert [(key.lock_id, key.person) for key in fleet.keys()] == [("HL-FIELD1", "Carer Anna")]
    names = sorted(p.name for p in reports.iterdir())
    for lock_id in flashed:  # one HTML and one XML report per unit, named by it
        assert len([n for n in names if n.startswith(f"hil-{lock_id}-") and n.endswith(".html")]) == 1
        assert len([n for n in names if n.startswith(f"hil-{lock_id}-") and n.endswith(".xml")]) == 1
    assert "running.xml" not in names


def test_bench_key_ids_stay_clear_of_the_fleets():
    assert BENCH_KEY_IDS_FROM > 2**31  # the fleet counts up from 1; the bench's are uint32 still
    assert BENCH_KEY_IDS_FROM < 0xFFFFFFFF


@pytest.mark.parametrize("typed, millivolts", [
    ("3.66", 3660), ("3,66", 3660), ("3.66 V", 3660), ("3.66V", 3660), ("3,66 v", 3660),
    ("3660", 3660), ("3660 mV", 3660), ("3660mv", 3660), (" 3.6 ", 3600), ("12", 12000)])
def test_a_multimeter_reading_as_technicians_type_it(typed, millivolts):
    assert parse_millivolts(typed) == pytest.approx(millivolts)


@pytest.mark.parametrize("typed", ["", "abc", "3.6.6", "-3.6", "36000", "0.2", "3.66 A", "3 660"])
def test_a_reading_that_is_no_voltage_is_refused(typed):
    with pytest.raises(ValueError, match="3.62 V or 3620 mV"):
        parse_millivolts(typed)


@pytest.mark.parametrize("typed, microamps", [
    ("18", 18), ("18 uA", 18), ("18uA", 18), ("18 µA", 18), ("18,5 µA", 18.5), ("0.018 mA", 18),
    ("0,018mA", 18), ("25 mA", 25000), (" 7.5 ", 7.5)])
def test_a_current_reading_as_technicians_type_it(typed, microamps):
    assert parse_microamps(typed) == pytest.approx(microamps)


@pytest.mark.parametrize("typed", ["", "abc", "1.8.1", "-18", "18 A", "0.01", "900 mA", "1 8"])
def test_a_reading_that_is_no_current_is_refused(typed):
    with pytest.raises(ValueError, match="18 uA or 0.018 mA"):
        parse_microamps(typed)


def test_the_bench_asks_again_until_the_answer_reads(capsys):
    answers = iter(["", "tre komma sex", "36000", "3,58 V"])
    assert ask("voltage?", parse_millivolts, read=lambda _prompt: next(answers)) == pytest.approx(3580)
    said = capsys.readouterr().out
    assert said.count("[bench]") == 3 and "36000 mV" in said


def test_no_answer_at_all_fails_the_check_saying_why():
    def closed(_prompt):
        raise EOFError

    with pytest.raises(pytest.fail.Exception, match="no answer from the technician .*standard input is closed"):
        ask("voltage?", parse_millivolts, read=closed)
