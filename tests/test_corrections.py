"""Corrections, append-only: a manual visit or a registered compensation hour that is wrong is
withdrawn, or corrected by a new row, with a correction record (who, when, why); nothing is
deleted or rewritten; listings and the report count the current version only (issue 11)."""

from __future__ import annotations

import csv
import datetime as dt
import json
import os

import pytest
from sqlalchemy import func, select

from hemlas.cli import main
from hemlas.fleet.models import CompensationHour, CompensationHourCorrection, ManualVisit
from hemlas.fleet.store import FleetError, FleetStore

T0 = 1_790_000_000
NOW = T0 + 86400
P = "Omsorg AB"


@pytest.fixture
def store(store_url):
    with FleetStore(store_url, create=True) as store:
        store.add_lock("HL-000001", "virtual", "1.0", os.urandom(32), now=T0)
        store.add_customer("1001", "Customer One", "Storgatan 1", now=T0, provider=P)
        store.add_customer("1002", "Customer Two", "Storgatan 2", now=T0, provider=P)
        store.mount_lock("HL-000001", "1001", None, "Fitter", T0, now=T0)
        yield store


def _rows(store, model) -> int:
    with store._transaction() as session:
        return session.scalar(select(func.count()).select_from(model))


# ---- manual visits ---------------------------------------------------------------------------

def test_an_exact_duplicate_manual_visit_is_refused(store):
    first = store.register_manual_visit("1001", "Anna", T0 + 3600, "lock dead", out_at=T0 + 5000, now=NOW)
    with pytest.raises(FleetError, match=f"already registered: manual visit #{first.visit_id}"):
        store.register_manual_visit("1001", "Anna", T0 + 3600, " lock dead ", out_at=T0 + 5000, now=NOW)
    # Anything different is another visit.
    store.register_manual_visit("1001", "Anna", T0 + 3600, "lock dead", now=NOW)
    store.register_manual_visit("1001", "Bo", T0 + 3600, "lock dead", out_at=T0 + 5000, now=NOW)
    assert len(store.visits("1001", T0, NOW)) == 3


def test_a_manual_visit_is_corrected_by_a_new_one_and_the_old_kept(store):
    wrong = store.register_manual_visit("1001", "Anna", T0 + 3600, "lock dead", out_at=T0 + 5000, now=NOW)
    right = store.correct_manual_visit(wrong.visit_id, "Coordinator", "wrong time, see the rota",
                                       at=T0 + 7200, out_at=T0 + 9000, now=NOW + 10)
    assert right.visit_id != wrong.visit_id and right.corrects == wrong.visit_id
    assert (right.person, right.in_at, right.out_at, right.note) == ("Anna", T0 + 7200, T0 + 9000, "lock dead")
    [listed] = store.visits("1001", T0, NOW + 60)
    assert (listed.visit_id, listed.corrects, listed.status) == (right.visit_id, wrong.visit_id, "current")
    history = {v.visit_id: v for v in store.visits("1001", T0, NOW + 60, include_all=True)}
    old = history[wrong.visit_id]
    assert (old.status, old.in_at, old.out_at) == ("corrected", T0 + 3600, T0 + 5000)  # as it was
    assert (old.correction.by, old.correction.reason, old.correction.recorded_at,
            old.correction.replacement_id) == ("Coordinator", "wrong time, see the rota", NOW + 10,
                                               right.visit_id)
    assert _rows(store, ManualVisit) == 2  # nothing deleted
    # The replacement may be corrected in turn; the first one no more.
    with pytest.raises(FleetError, match=f"already corrected by Coordinator at .*replacement, #{right.visit_id}"):
        store.correct_manual_visit(wrong.visit_id, "Coordinator", "again", note="x", now=NOW + 20)
    third = store.correct_manual_visit(right.visit_id, "Coordinator", "the note", note="battery flat",
                                       now=NOW + 30)
    assert [v.visit_id for v in store.visits("1001", T0, NOW + 60)] == [third.visit_id]


def test_a_manual_visit_is_withdrawn_and_stays_in_the_history(store):
    visit = store.register_manual_visit("1001", "Anna", T0 + 3600, "lock dead", now=NOW)
    withdrawn = store.withdraw_manual_visit(visit.visit_id, "Coordinator", "registered twice", now=NOW + 5)
    assert withdrawn.status == "withdrawn" and withdrawn.correction.by == "Coordinator"
    assert store.visits("1001", T0, NOW + 60) == []
    [kept] = store.visits("1001", T0, NOW + 60, include_all=True)
    assert (kept.visit_id, kept.status, kept.correction.reason) == (visit.visit_id, "withdrawn", "registered twice")
    with pytest.raises(FleetError, match="already withdrawn by Coordinator at"):
        store.withdraw_manual_visit(visit.visit_id, "Coordinator", "again", now=NOW + 6)
    with pytest.raises(FleetError, match="already withdrawn"):
        store.correct_manual_visit(visit.visit_id, "Coordinator", "again", note="y", now=NOW + 6)
    # Withdrawn, the same values may be registered again (it did happen after all).
    again = store.register_manual_visit("1001", "Anna", T0 + 3600, "lock dead", now=NOW + 7)
    assert [v.visit_id for v in store.visits("1001", T0, NOW + 60)] == [again.visit_id]


def test_correction_refusals(store):
    visit = store.register_manual_visit("1001", "Anna", T0 + 3600, "lock dead", now=NOW)
    with pytest.raises(FleetError, match="no manual visit #999"):
        store.withdraw_manual_visit(999, "Coordinator", "why", now=NOW)
    for reason in ("", "  "):
        with pytest.raises(FleetError, match="needs a reason saying why"):
            store.withdraw_manual_visit(visit.visit_id, "Coordinator", reason, now=NOW)
        with pytest.raises(FleetError, match="needs a reason saying why"):
            store.correct_manual_visit(visit.visit_id, "Coordinator", reason, note="x", now=NOW)
    with pytest.raises(FleetError, match="changes nothing"):
        store.correct_manual_visit(visit.visit_id, "Coordinator", "why", note="lock dead", now=NOW)
    for change, match in [({"at": NOW + 3600}, "in the future"),
                          ({"out_at": T0}, "end before it begins"),
                          ({"at": T0 - 3600}, "had no lock at that time"),
                          ({"note": " "}, "needs a note saying why")]:
        with pytest.raises(FleetError, match=match):
            store.correct_manual_visit(visit.visit_id, "Coordinator", "why", now=NOW, **change)
    assert store.visits("1001", T0, NOW + 60, include_all=True)[0].status == "current"  # untouched


# ---- compensation hours ----------------------------------------------------------------------

def _day(t: int) -> str:
    return dt.date.fromtimestamp(t).isoformat()


def test_an_hour_is_withdrawn_and_the_report_no_longer_counts_it(store):
    month = _day(T0)[:7]
    first = store.register_hours(P, "1001", _day(T0), "Coordinator", now=NOW)
    second = store.register_hours(P, "1001", _day(T0), "Coordinator", lock_id="HL-000001", now=NOW)
    assert len(store.compensation_report(P, month).unmatched_hours) == 1  # two hours, one mount
    withdrawn = store.withdraw_hour(first.hour_id, "Coordinator", "entered twice", now=NOW + 1)
    assert withdrawn.status == "withdrawn" and withdrawn.correction.reason == "entered twice"
    report = store.compensation_report(P, month)
    assert report.balanced and [h.hour.hour_id for h in report.hours] == [second.hour_id]
    assert [h.hour_id for h in store.registered_hours(P, month)] == [second.hour_id]
    assert [(h.hour_id, h.status) for h in store.registered_hours(P, month, include_all=True)] == [
        (first.hour_id, "withdrawn"), (second.hour_id, "current")]
    with pytest.raises(FleetError, match="already withdrawn by Coordinator"):
        store.withdraw_hour(first.hour_id, "Coordinator", "again", now=NOW + 2)
    assert _rows(store, CompensationHour) == 2 and _rows(store, CompensationHourCorrection) == 1


def test_an_hour_is_corrected_and_reimporting_the_file_adds_nothing(store):
    month = _day(T0)[:7]
    export = f"customer,date\n1002,{_day(T0)}\n"  # the wrong customer
    [wrong] = store.import_hours_csv(P, export, "Coordinator", source="jan.csv", now=NOW).added
    right = store.correct_hour(wrong.hour_id, "Coordinator", "customer mistyped",
                               customer_number="1001", now=NOW + 1)
    assert (right.customer_number, right.corrects, right.source_ref) == (
        "1001", wrong.hour_id, f"correction of hour #{wrong.hour_id}")
    report = store.compensation_report(P, month)
    assert report.balanced and [h.hour.hour_id for h in report.hours] == [right.hour_id]
    again = store.import_hours_csv(P, export, "Coordinator", source="jan.csv", now=NOW + 2)
    assert again.added == () and again.already_present == 1
    assert store.compensation_report(P, month).balanced
    with pytest.raises(FleetError, match=f"already corrected .*hour #{right.hour_id}"):
        store.correct_hour(wrong.hour_id, "Coordinator", "x", day=_day(T0), now=NOW + 3)
    with pytest.raises(FleetError, match="changes nothing"):
        store.correct_hour(right.hour_id, "Coordinator", "x", customer_number="1001", now=NOW + 3)
    with pytest.raises(FleetError, match="is in the future"):
        store.correct_hour(right.hour_id, "Coordinator", "x", day=_day(NOW + 5 * 86400), now=NOW + 3)
    with pytest.raises(FleetError, match="needs a reason"):
        store.correct_hour(right.hour_id, "Coordinator", " ", customer_number="1002", now=NOW + 3)
    with pytest.raises(FleetError, match="no registered hour #4242"):
        store.withdraw_hour(4242, "Coordinator", "x", now=NOW + 3)
    # A withdrawn hour may be registered again; a current one still not twice.
    store.withdraw_hour(right.hour_id, "Coordinator", "no hour after all", now=NOW + 4)
    store.register_hours(P, "1001", _day(T0), "Coordinator", now=NOW + 5)
    with pytest.raises(FleetError, match="already has an hour"):
        store.register_hours(P, "1001", _day(T0), "Coordinator", now=NOW + 6)


# ---- the CLI ---------------------------------------------------------------------------------

def _run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_corrects_and_withdraws_visits_and_hours(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HEMLAS_STORE", str(tmp_path / "fleet.sqlite3"))
    now = int(dt.datetime.now().timestamp())
    with FleetStore(create=True) as s:
        s.add_lock("HL-000001", "virtual", "1.0", os.urandom(32), now=now - 86400)
        s.add_customer("1001", "Karin", "Storgatan 1", now=now - 86400, provider=P)
        s.mount_lock("HL-000001", "1001", None, "Fitter", now - 86400, now=now - 86400)
    at = dt.datetime.fromtimestamp(now - 3600).strftime("%Y-%m-%dT%H:%M")
    register = ("visits", "register-manual", "1001", "--at", at, "--by", "Anna", "--note", "lock dead")
    code, out, _ = _run(capsys, *register, "--json")
    visit_id = json.loads(out)["visit_id"]
    code, _, err = _run(capsys, *register)
    assert code == 1 and err.startswith("hemlas: this visit is already registered") and "\n" not in err.strip()
    code, out, _ = _run(capsys, "visits", "correct", str(visit_id), "--by", "Coordinator", "--reason",
                        "wrong carer", "--person", "Bo", "--json")
    replacement = json.loads(out)
    assert code == 0 and replacement["person"] == "Bo" and replacement["corrects"] == visit_id
    code, _, err = _run(capsys, "visits", "withdraw", str(visit_id), "--by", "Coordinator", "--reason", "x")
    assert code == 1 and "already corrected by Coordinator" in err
    code, _, err = _run(capsys, "visits", "withdraw", str(replacement["visit_id"]), "--by", "Coordinator")
    assert code == 1 and "needs a reason" in err
    code, out, _ = _run(capsys, "visits", "1001", "--json")
    assert [(v["visit_id"], v["person"], v["status"]) for v in json.loads(out)] == [
        (replacement["visit_id"], "Bo", "current")]
    code, out, _ = _run(capsys, "visits", "1001", "--all", "--csv", str(tmp_path / "v.csv"),
                        "--csv-delimiter", "semicolon")
    lines = out.splitlines()
    assert code == 0 and lines[1].split()[:3] == ["in", "out", "person"]  # the header row
    assert any("MANUAL, CORRECTED" in line and f"replaced by #{replacement['visit_id']}" in line
               and "wrong carer" in line for line in lines)
    raw = (tmp_path / "v.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # UTF-8 with BOM, for a Swedish spreadsheet
    rows = list(csv.DictReader(raw.decode("utf-8-sig").splitlines(), delimiter=";"))
    assert sorted(r["status"] for r in rows) == ["corrected", "current"]
    assert all(r["in"][-6] in "+-" for r in rows)  # ISO with its offset

    day = dt.date.fromtimestamp(now - 86400).isoformat()
    for _ in range(2):
        code, out, err = _run(capsys, "compensation", "register", "--provider", P, "--customer", "1001",
                              "--date", day, "--by", "Coordinator", "--lock", "HL-000001")
    assert code == 1 and "already has an hour" in err and "Traceback" not in err
    code, out, _ = _run(capsys, "compensation", "register", "--provider", P, "--customer", "1001",
                        "--date", day, "--by", "Coordinator", "--json")
    extra = json.loads(out)["hour_id"]
    month = day[:7]
    code, out, _ = _run(capsys, "report", "compensation", "--provider", P, "--month", month, "--json")
    assert json.loads(out)["balanced"] is False
    code, out, _ = _run(capsys, "compensation", "withdraw", f"#{extra}", "--by", "Coordinator",
                        "--reason", "two hours for one mount")
    assert code == 0 and f"hour #{extra}" in out and "withdrawn" in out
    code, out, _ = _run(capsys, "report", "compensation", "--provider", P, "--month", month, "--json")
    assert json.loads(out)["balanced"] is True and json.loads(out)["hours_registered"] == 1
    code, out, _ = _run(capsys, "compensation", "list", "--provider", P, "--all")
    assert code == 0 and any(line.startswith(f"#{extra}") and "WITHDRAWN by Coordinator" in line
                             for line in out.splitlines())
    code, out, _ = _run(capsys, "compensation", "list", "--provider", P, "--json")
    assert [h["status"] for h in json.loads(out)] == ["current"]
    with pytest.raises(SystemExit):  # argparse's usage error, naming what an hour id is
        main(["compensation", "correct", "x1", "--by", "C", "--reason", "r"])
    assert "an hour is named by its number" in capsys.readouterr().err
