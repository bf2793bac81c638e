"""The fleet CLI: `customers`, `locks` and `report batteries`, through hemlas.cli.main."""

import csv
import json
import os
import secrets
import time

import pytest

from hemlas.cli import main
from hemlas.fleet import FleetStore
from hemlas.firmware import wire

DAY = 86400


@pytest.fixture
def store_path(tmp_path, monkeypatch):
    path = tmp_path / "fleet.sqlite3"
    FleetStore(str(path)).close()  # the store exists: reading commands refuse a missing one
    monkeypatch.setenv("HEMLAS_STORE", str(path))
    return path


def _run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def fleet_with_batteries(store_path):
    """HL-CRIT and HL-LOW (with a customer and a trend) need attention, HL-NEW was never read
    and HL-OK reported OK an hour ago."""
    now = int(time.time())
    with FleetStore(create=True) as s:
        for lock_id in ("HL-OK", "HL-LOW", "HL-CRIT", "HL-NEW"):
            s.add_lock(lock_id, "virtual", "1.0", secrets.token_bytes(32))
        s.add_customer("0042", "Karin <Berg>")  # a name HTML must escape
        s.assign_lock("HL-LOW", "0042")
        for i in range(10):
            s.record_battery_reading("HL-LOW", at=now - (10 - i) * DAY, idle_mv=3300 - 20 * i,
                                     loaded_mv=3000 - 40 * i, state=wire.BATTERY_OK if i < 9
                                     else wire.BATTERY_LOW, percent=60 - 5 * i, days_left=10 - i)
        s.record_battery_reading("HL-CRIT", at=now - DAY, idle_mv=2100, loaded_mv=1900,
                                 state=wire.BATTERY_CRITICAL)
        s.record_battery_reading("HL-OK", at=now - 3600, idle_mv=3300, loaded_mv=3100,
                                 state=wire.BATTERY_OK)
    return store_path


def test_customers_add_and_list(store_path, capsys):
    code, out, _ = _run(capsys, "customers", "add", "0042", "--name", "Karin Berg",
                        "--address", "Storgatan 1")
    assert code == 0 and "customer 0042 added: Karin Berg, Storgatan 1" in out
    code, out, err = _run(capsys, "customers", "add", "0042", "--name", "Other")
    assert code == 1 and err.strip() == "hemlas: customer 0042 already exists"
    code, out, err = _run(capsys, "customers", "add", "12x", "--name", "Other")
    assert code == 1 and "digits only" in err
    code, out, _ = _run(capsys, "customers", "list", "--json")
    assert code == 0
    rows = json.loads(out)
    assert [{k: v for k, v in r.items() if k != "created_at"} for r in rows] == [
        {"customer_number": "0042", "name": "Karin Berg", "address": "Storgatan 1",
         "provider": None, "lock_ids": [], "nfc_tag": None}]


def test_locks_mount_and_list(fleet_with_batteries, capsys):
    code, out, err = _run(capsys, "locks", "mount", "HL-OK", "0099", "--by", "Fitter")
    assert code == 1 and err.startswith("hemlas: customer 0099 is not in the fleet store")
    assert _run(capsys, "customers", "add", "0099", "--name", "Olle", "--address", "Vägen 3",
                "--provider", "Omsorg AB")[0] == 0
    code, out, _ = _run(capsys, "locks", "mount", "HL-OK", "0099", "--by", "Fitter")
    assert code == 0 and out.startswith("lock HL-OK mounted for customer 0099 (Olle) at Vägen 3")
    code, out, err = _run(capsys, "locks", "mount", "HL-LOW", "0099", "--by", "Fitter")
    assert code == 1 and "already assigned to customer 0042" in err
    code, out, _ = _run(capsys, "locks", "list", "--json")
    rows = {r["lock_id"]: r for r in json.loads(out)}
    assert (rows["HL-LOW"]["customer_number"], rows["HL-LOW"]["battery"]) == ("0042", "low")
    assert (rows["HL-OK"]["customer_name"], rows["HL-OK"]["battery"]) == ("Olle", "ok")
    assert rows["HL-NEW"]["battery"] is None and rows["HL-NEW"]["customer_number"] is None
    code, out, _ = _run(capsys, "locks", "list")
    assert code == 0 and "HL-CRIT" in out and "no reading" in out
    code, out, _ = _run(capsys, "customers", "list")
    assert "0042" in out and "HL-LOW" in out and "Omsorg AB" in out
    assert _run(capsys, "locks", "key-out", "HL-OK", "--by", "Fitter")[0] == 0
    code, out, _ = _run(capsys, "locks", "dismantle", "HL-OK", "--by", "Fitter")
    assert code == 0 and "dismantled at customer 0099" in out
    code, out, _ = _run(capsys, "locks", "list", "--json")
    assert {r["lock_id"]: r for r in json.loads(out)}["HL-OK"]["customer_number"] is None


def test_report_batteries_json_lists_exactly_the_locks_needing_attention(fleet_with_batteries,
                                                                         capsys):
    code, out, _ = _run(capsys, "report", "batteries", "--json")
    assert code == 0
    rows = json.loads(out)
    assert [(r["lock_id"], r["level"]) for r in rows] == [
        ("HL-CRIT", "CRITICAL"), ("HL-LOW", "LOW"), ("HL-NEW", "stale")]
    low = rows[1]
    assert (low["customer_number"], low["customer_name"], low["battery"], low["days_left"]) == (
        "0042", "Karin <Berg>", "low", 1)
    # With a window under an hour, HL-OK is stale too.
    code, out, _ = _run(capsys, "report", "batteries", "--json", "--stale-days", "0.01")
    assert "HL-OK" in [r["lock_id"] for r in json.loads(out)]


def test_report_batteries_terminal_table(fleet_with_batteries, capsys):
    code, out, _ = _run(capsys, "report", "batteries")
    assert code == 0
    lines = out.splitlines()
    assert [line.split()[:2] for line in lines[1:]] == [
        ["CRITICAL", "HL-CRIT"], ["LOW", "HL-LOW"], ["stale", "HL-NEW"]]
    assert "do not swap; service desk" in lines[1] and "swap the battery" in lines[2]
    assert "HL-OK" not in out


def test_report_batteries_when_all_is_well(store_path, capsys):
    with FleetStore(create=True) as s:
        s.add_lock("HL-1", "virtual", "1.0", secrets.token_bytes(32))
        s.record_battery_reading("HL-1", idle_mv=3300, loaded_mv=3100, state=wire.BATTERY_OK)
    code, out, _ = _run(capsys, "report", "batteries")
    assert code == 0 and out.startswith("all batteries OK")
    assert json.loads(_run(capsys, "report", "batteries", "--json")[1]) == []
    code, _, err = _run(capsys, "report", "batteries", "--stale-days", "0")
    assert code == 1 and err.strip() == "hemlas: --stale-days must be positive"


def test_report_batteries_html_and_csv_files(fleet_with_batteries, tmp_path, capsys):
    page, table = tmp_path / "report.html", tmp_path / "report.csv"
    code, out, _ = _run(capsys, "report", "batteries", "--html", str(page), "--csv", str(table))
    assert code == 0 and f"written: {page}" in out and f"written: {table}" in out
    text = page.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>") and text.rstrip().endswith("</html>")
    # One trend plot per listed lock that has readings, inline: the file stands alone.
    assert text.count("<svg") == 2 and "<?xml" not in text
    assert 'id="lock-HL-LOW"' in text and "No readings in the last" in text  # HL-NEW
    assert "Karin &lt;Berg&gt;" in text and "Karin <Berg>" not in text
    assert "HL-OK" not in text
    rows = list(csv.DictReader(table.open(encoding="utf-8-sig", newline="")))
    assert [r["lock_id"] for r in rows] == ["HL-CRIT", "HL-LOW", "HL-NEW"]
    assert rows[1]["customer_name"] == "Karin <Berg>" and rows[1]["battery"] == "low"
    if os.name == "posix":  # it names customers: for the user's eyes only
        assert page.stat().st_mode & 0o077 == 0 and table.stat().st_mode & 0o077 == 0


def test_report_to_an_unwritable_place_is_a_clear_error(fleet_with_batteries, tmp_path, capsys):
    code, _, err = _run(capsys, "report", "batteries", "--html",
                        str(tmp_path / "no" / "such" / "dir" / "r.html"))
    assert code == 1 and err.startswith("hemlas: cannot write")
