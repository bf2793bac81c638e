"""The CLI's one output vocabulary (issue 11), as a user and a spreadsheet see it: JSON says
`lock_id` and ISO 8601 times with an offset, states named beside their codes; terminal lists
have a header row and cut nothing; every CSV is UTF-8 with a byte-order mark, ISO times, and
takes `--csv-delimiter semicolon`. Through hemlas.cli.main on a real SQLite store.

The references are outside the code: datetime.fromisoformat (the ISO reader), the csv module
reading with the delimiter a Swedish Excel uses, the BOM's bytes (EF BB BF) and the routine's
order of lifecycle steps (docs/lifecycle.md)."""

import csv
import json
import secrets
import time
from datetime import datetime

import pytest

from hemlas.cli import main
from hemlas.fleet import FleetStore
from hemlas.firmware import wire

# Longer than any column the old listings cut to (24-32 characters), with å, ä and ö.
NAME = "Åsa Öberg-Långnamnsdotter af Ekensköld"
ADDRESS = "Storgatan 1234, lägenhet 1102, 123 45 Långby kommun"
BOM = b"\xef\xbb\xbf"


@pytest.fixture
def fleet(tmp_path, monkeypatch):
    """HL-MOUNT mounted at customer 1001 (long name and address, a LOW reading), HL-STOCK
    never mounted; an NFC tag of customer 1002's registered and deactivated."""
    path = tmp_path / "fleet.sqlite3"
    now = int(time.time())
    with FleetStore(str(path)) as s:
        for lock_id in ("HL-MOUNT", "HL-STOCK"):
            s.add_lock(lock_id, "virtual", "1.0", secrets.token_bytes(32))
        s.add_customer("1001", NAME, ADDRESS, provider="Omsorg AB")
        s.add_customer("1002", "Olle", "Vägen 3", provider="Omsorg AB")
        s.register_nfc_tag("1002", "04:A2:19:7B", "Koordinator", at=now - 7200)
        s.deactivate_nfc_tag("1002", "Koordinator", at=now - 3600)
        s.mount_lock("HL-MOUNT", "1001", None, "Montör", at=now - 1800)
        s.record_battery_reading("HL-MOUNT", at=now - 600, idle_mv=3300, loaded_mv=2900,
                                 state=wire.BATTERY_LOW, percent=12, days_left=9)
    monkeypatch.setenv("HEMLAS_STORE", str(path))
    return path


def _run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert code == 0, err
    return out


def _is_iso_with_offset(value) -> bool:
    try:
        return datetime.fromisoformat(value).tzinfo is not None
    except (TypeError, ValueError):
        return False


def _walk(doc, path=""):
    """Every (key path, key, value) in a JSON document."""
    if isinstance(doc, dict):
        for k, v in doc.items():
            yield f"{path}.{k}", k, v
            yield from _walk(v, f"{path}.{k}")
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            yield from _walk(v, f"{path}[{i}]")


def _month() -> str:
    return time.strftime("%Y-%m")


JSON_COMMANDS = [
    ("customers", "list"), ("customers", "nfc-list"), ("locks", "list"),
    ("locks", "history", "HL-MOUNT"), ("report", "batteries"),
    ("report", "compensation", "--provider", "Omsorg AB", "--month", None), ("boards",)]


@pytest.mark.parametrize("argv", JSON_COMMANDS, ids=lambda a: " ".join(x for x in a if x))
def test_json_says_lock_id_and_iso_times_with_offset(fleet, capsys, argv):
    argv = [_month() if a is None else a for a in argv]
    doc = json.loads(_run(capsys, *argv, "--json"))
    times = 0
    for where, key, value in _walk(doc):
        assert key not in ("lock", "locks"), f"{where}: a lock is lock_id (or lock_ids)"
        if key == "at" or key.endswith("_at") or key.endswith("_since"):
            assert value is None or _is_iso_with_offset(value), f"{where}: {value!r}"
            times += value is not None
    for value in [doc] + [v for _, _, v in _walk(doc)] + (doc if isinstance(doc, list) else []):
        if isinstance(value, dict) and "battery" in value:  # a battery is a state: named
            assert "battery_code" in value, f"battery {value['battery']!r} without a code"
    if argv[0] != "boards":
        assert times > 0  # the check above did look at times


def test_json_names_battery_state_beside_its_code(fleet, capsys):
    locks = {r["lock_id"]: r for r in json.loads(_run(capsys, "locks", "list", "--json"))}
    assert (locks["HL-MOUNT"]["battery"], locks["HL-MOUNT"]["battery_code"]) == (
        "low", wire.BATTERY_LOW)
    assert (locks["HL-STOCK"]["battery"], locks["HL-STOCK"]["battery_code"]) == (None, None)
    report = json.loads(_run(capsys, "report", "batteries", "--json"))
    low = next(r for r in report if r["lock_id"] == "HL-MOUNT")
    assert (low["battery"], low["battery_code"]) == ("low", wire.BATTERY_LOW)
    assert "state" not in low  # one spelling: the name beside the code


def _header_and_rows(out: str, first_header: str) -> tuple[list[str], list[str]]:
    lines = out.splitlines()
    at = next(i for i, line in enumerate(lines) if line.split()[:1] == [first_header])
    return lines[at].split(), lines[at + 1:]


@pytest.mark.parametrize("argv, header, must_show", [
    (("locks", "list"), ["lock", "status", "customer", "address"], [NAME, ADDRESS]),
    (("customers", "list"), ["customer", "name", "address", "provider"], [NAME, ADDRESS]),
    (("customers", "nfc-list"), ["customer", "tag", "status", "registered"],
     ["04:A2:19:7B", "Koordinator"]),
    (("locks", "history", "HL-MOUNT"), ["when", "action", "customer", "address"], [ADDRESS]),
    (("report", "batteries"), ["level", "lock", "customer"], [NAME]),
    (("boards",), ["board", "model"], ["hemlas bench lock (ESP32-DevKitC)"]),
], ids=lambda v: " ".join(v) if isinstance(v, tuple) else None)
def test_terminal_lists_have_a_header_row_and_cut_nothing(fleet, capsys, argv, header, must_show):
    out = _run(capsys, *argv)
    head, rows = _header_and_rows(out, header[0])
    assert head[:len(header)] == header
    assert rows
    for text in must_show:
        assert text in out, f"{text!r} cut or missing in:\n{out}"


def test_locks_list_shows_each_lock_status_through_the_routine(fleet, capsys):
    """The routine's order (docs/lifecycle.md): mounted, key out, dismantled (key not back),
    stock again; a never-mounted lock is stock."""

    def status(lock_id):
        rows = {r["lock_id"]: r for r in json.loads(_run(capsys, "locks", "list", "--json"))}
        text = next(line for line in _run(capsys, "locks", "list").splitlines()
                    if line.startswith(lock_id + " "))
        return rows[lock_id], text

    row, text = status("HL-STOCK")
    assert row["status"] == "stock" and " stock " in text
    row, text = status("HL-MOUNT")
    assert (row["status"], row["customer_number"], row["address"]) == ("mounted", "1001", ADDRESS)
    assert " mounted " in text and _is_iso_with_offset(row["status_since"])
    _run(capsys, "locks", "key-out", "HL-MOUNT", "--by", "Montör")
    row, text = status("HL-MOUNT")
    assert row["status"] == "key_out" and "key out" in text and row["customer_number"] == "1001"
    _run(capsys, "locks", "dismantle", "HL-MOUNT", "--by", "Montör")
    row, text = status("HL-MOUNT")
    assert row["status"] == "dismantled" and row["customer_number"] is None
    assert "dismantled at customer 1001, key not returned" in text
    _run(capsys, "locks", "key-return", "HL-MOUNT", "--by", "Montör")
    row, text = status("HL-MOUNT")
    assert row["status"] == "stock" and " stock " in text


CSV_COMMANDS = [
    (("customers", "list"), "name", NAME, "created_at"),
    (("customers", "nfc-list"), "tag", "04:A2:19:7B", "registered_at"),
    (("locks", "list"), "customer_name", NAME, "battery_at"),
    (("locks", "history", "HL-MOUNT"), "address", ADDRESS, "at"),
    (("report", "batteries"), "customer_name", NAME, "reading_at"),
    (("report", "compensation", "--provider", "Omsorg AB", "--month", None), "customer_name",
     NAME, "at"),
]


@pytest.mark.parametrize("argv, column, value, time_column", CSV_COMMANDS,
                         ids=lambda v: " ".join(x for x in v if x) if isinstance(v, tuple) else None)
@pytest.mark.parametrize("delimiter, char", [("semicolon", ";"), (None, ",")])
def test_every_csv_opens_in_a_swedish_spreadsheet(fleet, capsys, tmp_path, argv, column, value,
                                                   time_column, delimiter, char):
    path = tmp_path / "out.csv"
    argv = [_month() if a is None else a for a in argv]
    extra = ["--csv-delimiter", delimiter] if delimiter else []
    out = _run(capsys, *argv, "--csv", str(path), *extra)
    assert f"written: {path}" in out
    raw = path.read_bytes()
    assert raw.startswith(BOM)  # Excel reads UTF-8 (å, ä, ö) only with the mark
    rows = list(csv.DictReader(raw[len(BOM):].decode("utf-8").splitlines(), delimiter=char))
    assert rows and value in [r[column] for r in rows]
    if time_column:
        stamps = [r[time_column] for r in rows if r[time_column]]
        assert stamps and all(_is_iso_with_offset(t) for t in stamps), stamps
