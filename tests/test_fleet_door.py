"""The fleet's door warnings (issue 14, docs/knock.md): read from the lock events synced into
the store; listed by `hemlas report doors` beside the battery report. Event types and fields
from docs/protocol.md (18 door_opened, 19 door_closed open_s, 20 door_left_open open_s, 21
forced peak_mg)."""

from __future__ import annotations

import json
import secrets

import pytest

from hemlas.cli import main
from hemlas.fleet import FleetStore
from hemlas.results import EventRecord

OPENED, CLOSED, LEFT_OPEN, FORCED = 18, 19, 20, 21
NOW = 1_800_000_000
DAY = 86400


@pytest.fixture
def store(tmp_path, monkeypatch):
    path = tmp_path / "fleet.sqlite3"
    monkeypatch.setenv("HEMLAS_STORE", str(path))
    with FleetStore(str(path), create=True) as s:
        for lock_id in ("HL-SHUT", "HL-OPEN", "HL-HIT", "HL-OLDHIT", "HL-REOPENED"):
            s.add_lock(lock_id, "esp32c3", "0.5.0", secrets.token_bytes(32), now=10)
        s.add_customer("0042", "Karin Berg")
        s.assign_lock("HL-OPEN", "0042")
        yield s


def _sync(store, lock_id, *events):
    records = [EventRecord(seq, at, kind, tuple(fields)) for seq, (at, kind, fields) in enumerate(events, 1)]
    store.store_log_page(lock_id, store.sync_cursor(lock_id).log_epoch, len(records) + 1, records, now=NOW)


def test_forced_entries_and_doors_left_open_are_listed_most_urgent_first(store):
    _sync(store, "HL-SHUT", (NOW - 900, OPENED, ()), (NOW - 800, LEFT_OPEN, (600,)), (NOW - 700, CLOSED, (200,)))
    _sync(store, "HL-OPEN", (NOW - 1300, OPENED, ()), (NOW - 700, LEFT_OPEN, (600,)))
    _sync(store, "HL-HIT", (NOW - 50, FORCED, (3998,)))
    _sync(store, "HL-OLDHIT", (NOW - 8 * DAY, FORCED, (3000,)))  # older than the report's week
    _sync(store, "HL-REOPENED", (NOW - 3000, LEFT_OPEN, (600,)), (NOW - 100, CLOSED, (2900,)),
          (NOW - 50, OPENED, ()))  # open again, not yet for long: nothing to do
    warnings = store.door_warnings(now=NOW)
    assert [(w.lock_id, w.level) for w in warnings] == [("HL-HIT", "FORCED ENTRY"), ("HL-OPEN", "LEFT OPEN")]
    hit, left = warnings
    assert hit.peak_mg == 3998 and hit.at == NOW - 50 and "3998 mg" in hit.reason
    assert left.open_s == 600 and (left.customer_number, left.customer_name) == ("0042", "Karin Berg")
    assert {w.lock_id for w in store.door_warnings(now=NOW, forced_within_s=9 * DAY)} == {"HL-HIT", "HL-OLDHIT", "HL-OPEN"}


def test_hemlas_report_doors_lists_them(store, capsys):
    _sync(store, "HL-OPEN", (NOW - 1300, OPENED, ()), (NOW - 700, LEFT_OPEN, (600,)))
    assert main(["report", "doors", "--forced-days", "100000"]) == 0
    out = capsys.readouterr().out
    assert "LEFT OPEN" in out and "HL-OPEN" in out and "0042 Karin Berg" in out and "shut it" in out
    assert main(["report", "doors", "--json"]) == 0
    [row] = json.loads(capsys.readouterr().out)
    assert row["lock_id"] == "HL-OPEN" and row["open_s"] == 600 and row["at"].startswith("20")
