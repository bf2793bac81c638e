"""Compensation: one "Uppstart smarta lås" hour per mounted lock, per provider and month."""

import csv
import datetime as dt
import json
import secrets

import pytest
from sqlalchemy import event, text

from hemlas.cli import main
from hemlas.fleet import FleetError, FleetStore
from hemlas.fleet.compensation import CompensationError, HourImportError

P, Q = "Omsorg AB", "Hemtjänst Syd"
NOW = int(dt.datetime(2026, 3, 1, 12).timestamp())


def _t(day: str, hour: int = 10) -> int:
    """Local time: months are calendar months where the municipality is."""
    return int(dt.datetime.fromisoformat(f"{day}T{hour:02d}:00").timestamp())


@pytest.fixture
def store(store_url):
    with FleetStore(store_url) as s:
        for i in range(1, 7):
            s.add_lock(f"HL-{i}", "virtual", "1.0", secrets.token_bytes(32), now=0)
        s.add_customer("1001", "Karin", "Storgatan 1", now=0, provider=P)
        s.add_customer("1002", "Olle", "Vägen 3", now=0, provider=P)
        s.add_customer("1003", "Nils", "Ängen 1", now=0, provider=Q)
        yield s


def _mount(store, lock_id, customer, day, hour=10):
    return store.mount_lock(lock_id, customer, None, "Fitter", _t(day, hour), now=NOW)


def _hour(store, customer, day, lock_id=None, provider=P):
    return store.register_hours(provider, customer, day, "Coordinator", lock_id=lock_id, now=NOW)


def test_one_hour_per_mounted_lock_and_every_mismatch_listed(store):
    karin = _mount(store, "HL-1", "1001", "2026-01-05")
    olle = _mount(store, "HL-2", "1002", "2026-01-20")
    _mount(store, "HL-3", "1003", "2026-01-07")  # another provider's: not in P's report
    paid = _hour(store, "1001", "2026-01-05")
    stray = _hour(store, "1003", "2026-01-09")  # P registered an hour for Q's customer
    report = store.compensation_report(P, "2026-01")
    assert (report.provider, report.month) == (P, "2026-01")
    assert [(m.lock_id, m.customer_name, m.address, m.hour_id) for m in report.mounts] == [
        ("HL-1", "Karin", "Storgatan 1", paid.hour_id), ("HL-2", "Olle", "Vägen 3", None)]
    assert [m.record_id for m in report.unmatched_mounts] == [olle.record_id]
    assert [(h.hour.hour_id, h.record_id) for h in report.hours] == [
        (paid.hour_id, karin.record_id), (stray.hour_id, None)]
    assert [(h.hour.customer_number, h.reason) for h in report.unmatched_hours] == [
        ("1003", "no lock was mounted for this customer in 2026-01")]
    assert not report.balanced
    assert store.compensation_report(Q, "2026-01").unmatched_mounts[0].lock_id == "HL-3"


def test_matching_is_per_customer_month_and_named_lock(store):
    _mount(store, "HL-1", "1001", "2026-01-05")
    _mount(store, "HL-2", "1001", "2026-01-06")  # a second door: a second hour
    _hour(store, "1001", "2026-01-31")  # any day of the month
    named = _hour(store, "1001", "2026-01-02", lock_id="HL-2")  # before the mount: same month
    report = store.compensation_report(P, "2026-01")
    # The named hour pays for its own lock, even though the unnamed one is the earlier mount's.
    assert [(m.lock_id, m.hour_id is not None) for m in report.mounts] == [("HL-1", True),
                                                                           ("HL-2", True)]
    assert next(m for m in report.mounts if m.lock_id == "HL-2").hour_id == named.hour_id
    assert report.balanced
    # A third hour for the customer, and one naming a lock not mounted for them.
    _hour(store, "1001", "2026-01-15")
    _hour(store, "1001", "2026-01-16", lock_id="HL-5")
    reasons = sorted(h.reason for h in store.compensation_report(P, "2026-01").unmatched_hours)
    assert reasons == ["lock HL-5 was not mounted for this customer in 2026-01",
                       "more hours than the 2 lock(s) mounted for this customer in 2026-01"]


def test_an_hour_in_another_month_is_a_mismatch_in_both(store):
    _mount(store, "HL-1", "1001", "2026-01-31", hour=23)
    _hour(store, "1001", "2026-02-01")
    jan, feb = (store.compensation_report(P, m) for m in ("2026-01", "2026-02"))
    assert [m.lock_id for m in jan.unmatched_mounts] == ["HL-1"] and jan.hours == ()
    assert feb.mounts == () and [h.reason for h in feb.unmatched_hours] == [
        "no lock was mounted for this customer in 2026-02"]


def test_only_mounts_count_and_the_report_stays_as_it_was(store):
    _mount(store, "HL-1", "1001", "2026-01-05")
    _hour(store, "1001", "2026-01-05")
    store.move_lock("HL-1", "Nygatan 2", "Fitter", _t("2026-01-10"), now=NOW)  # not a mount
    store.sign_out_key("HL-1", "Fitter", _t("2026-01-20"), now=NOW)
    store.dismantle_lock("HL-1", "Fitter", _t("2026-01-20", 11), now=NOW)
    before = store.compensation_report(P, "2026-01")
    store.set_customer_provider("1001", Q)  # later, the customer changes provider
    assert store.compensation_report(P, "2026-01") == before
    assert len(before.mounts) == 1 and before.balanced
    assert store.compensation_report(Q, "2026-01").mounts == ()


def test_unknown_customers_and_providers_and_bad_months(store):
    _hour(store, "4242", "2026-01-05")  # not in the store: exactly what the check is for
    report = store.compensation_report(P, "2026-01")
    assert [h.reason for h in report.unmatched_hours] == [
        "customer 4242 is not in the fleet store"]
    assert store.compensation_report(P, " 2026-02 ").month == "2026-02"  # empty, but known
    with pytest.raises(CompensationError, match="no customer, mount or hour names provider "
                                                "'Omsorg' .known providers: Hemtjänst Syd, "
                                                "Omsorg AB.; check the spelling"):
        store.compensation_report("Omsorg", "2026-01")
    assert store.compensation_report("  Omsorg   AB ", "2026-01") == report  # spacing
    for month in ("2026-13", "2026-1", "26-01", "januari", ""):
        with pytest.raises(CompensationError, match="a month is written YYYY-MM"):
            store.compensation_report(P, month)


@pytest.mark.parametrize("month", ["0000-01", "0001-01", "1969-12", "9999-12"])
def test_a_month_outside_the_years_the_store_handles_is_refused(store, month):
    """Year 0 is no date, year 1 has no unix time, 9999-12 has no next month: each refused
    with a message, not a ValueError."""
    _hour(store, "1001", "2026-01-05")
    for ask in (lambda: store.compensation_report(P, month),
                lambda: store.registered_hours(P, month)):
        with pytest.raises(CompensationError, match=f"{month}.* a month's year is in "
                                                    f"1970..9998"):
            ask()
    assert store.compensation_report(P, "1970-01").mounts == ()  # the first one handled
    assert store.registered_hours(P, "9998-12") == []  # and the last


def test_a_date_before_1970_is_refused_before_anything_is_stored(store):
    for day in ("0001-01-01", dt.date(1, 1, 1), "1969-12-31"):
        with pytest.raises(CompensationError, match="a date's year is in 1970..9998"):
            _hour(store, "1001", day)
    with pytest.raises(HourImportError, match="line 2: .*a date's year is in 1970..9998"):
        store.import_hours_csv(P, "customer,date\n1001,0001-01-01\n1001,2026-01-05\n",
                               "Coordinator", now=NOW)
    assert store.registered_hours(P) == []
    assert _hour(store, "1001", "1970-01-01").day == dt.date(1970, 1, 1)


def test_register_refusals(store):
    first = _hour(store, "1001", dt.date(2026, 1, 5))
    assert (first.provider, first.customer_number, first.day, first.source, first.lock_id) == (
        P, "1001", dt.date(2026, 1, 5), "cli", None)
    with pytest.raises(CompensationError) as refused:
        _hour(store, "1001", "2026-01-05")
    assert str(refused.value) == (
        f"provider {P} already has an hour for customer 1001 on 2026-01-05: hour "
        f"{first.hour_id}, entered by Coordinator; the routine allows one hour per mounted lock:"
        f" for a second lock mounted that day, name it with --lock LOCK")
    _hour(store, "1001", "2026-01-05", lock_id="HL-2")  # the second lock, named
    _hour(store, "1001", "2026-01-05", provider=Q)  # another provider's own registration
    with pytest.raises(CompensationError, match="2026-03-02 is in the future"):
        _hour(store, "1001", "2026-03-02")
    for bad, match in [("2026-02-30", "a date is written YYYY-MM-DD"),
                       ("5/1/2026", "a date is written YYYY-MM-DD")]:
        with pytest.raises(FleetError, match=match):
            _hour(store, "1001", bad)
    with pytest.raises(FleetError, match="digits only"):
        _hour(store, "10-01", "2026-01-05")
    with pytest.raises(FleetError, match="provider must not be empty"):
        _hour(store, "1001", "2026-01-06", provider=" ")
    assert len(store.registered_hours(P)) == 2


# ---- CSV import ------------------------------------------------------------------------------

GOOD = ("\ufeffkundnr;datum;timmar;lås;namn\n"  # a Swedish spreadsheet's export, with a BOM
        "1001;2026-01-05;1,00;;Karin\n"
        "\n"
        "1002;2026-01-21;1;HL-2;Olle\n"
        "1002;2026-01-21;1;HL-2;Olle\n")  # two identical lines: two hours


def test_import_is_idempotent_and_counts_repeated_lines(store):
    result = store.import_hours_csv(P, GOOD, "Coordinator", source="jan.csv", now=NOW)
    assert (result.lines, len(result.added), result.already_present) == (3, 3, 0)
    assert [(h.customer_number, h.lock_id, h.source, h.source_ref) for h in result.added] == [
        ("1001", None, "csv", "jan.csv:2"), ("1002", "HL-2", "csv", "jan.csv:4"),
        ("1002", "HL-2", "csv", "jan.csv:5")]
    again = store.import_hours_csv(P, GOOD, "Coordinator", source="jan.csv", now=NOW)
    assert (again.lines, again.added, again.already_present) == (3, (), 3)
    longer = GOOD + "1001;2026-01-30;1;;Karin\n"  # next week's export: one line more
    assert len(store.import_hours_csv(P, longer, "Coordinator", now=NOW).added) == 1
    assert len(store.registered_hours(P, "2026-01")) == 4
    # An hour typed in and then found in the export is the same registration.
    _hour(store, "1003", "2026-01-07")
    typed_too = store.import_hours_csv(P, "customer,date\n1003,2026-01-07\n", "Coordinator",
                                       now=NOW)
    assert typed_too.added == () and typed_too.already_present == 1


def test_a_bad_file_imports_nothing_and_names_every_bad_line(store):
    text_ = ("customer,date,hours,provider,lock\n"
             "1001,2026-01-05,1,,\n"  # good
             "abc,2026-01-05,1,,\n"
             "1002,2026-02-30,1,,\n"
             "1002,2026-01-06,2,,\n"
             "1002,2026-01-07,1,Hemtjänst Syd,\n"
             "1002,2099-01-01,1,,\n"
             "1002,2026-01-08,1,,,extra\n"
             ",2026-01-09,1,,\n"
             "1002,2026-01-10,,,\n")
    with pytest.raises(HourImportError) as refused:
        store.import_hours_csv(P, text_, "Coordinator", source="bad.csv", now=NOW)
    assert [line for line, _ in refused.value.errors] == [3, 4, 5, 6, 7, 8, 9, 10]
    message = str(refused.value)
    assert message.startswith("bad.csv: 8 bad line(s), nothing imported; correct them and "
                              "import the file again:\n  line 3: a customer number is digits")
    for part in ("line 4: a date is written YYYY-MM-DD, not '2026-02-30'",
                 "line 5: hours is '2': the routine allows one hour per mounted lock; a customer "
                 "with two locks gets two lines",
                 "line 6: provider is 'Hemtjänst Syd', not 'Omsorg AB': import one provider's "
                 "hours at a time",
                 "line 7: 2099-01-01 is in the future",
                 "line 8: 6 fields, the header has 5",
                 "line 9: customer number must not be empty",
                 "line 10: hours is ''"):
        assert part in message
    assert store.registered_hours(P) == []  # not even the good line
    for header in ("date,lock\n2026-01-05,HL-1\n", "", "customer;hours\n1001;1\n"):
        with pytest.raises(HourImportError, match="line 1: the header needs a customer and a "
                                                  "date column"):
            store.import_hours_csv(P, header, "Coordinator", now=NOW)


def test_many_bad_lines_are_listed_up_to_a_bound(store):
    text_ = "customer,date\n" + "x,2026-01-01\n" * 80
    with pytest.raises(HourImportError) as refused:
        store.import_hours_csv(P, text_, "Coordinator", now=NOW)
    assert len(refused.value.errors) == 80 and str(refused.value).endswith("... and 30 more")


# ---- Efficiency ------------------------------------------------------------------------------

def test_the_report_is_two_indexed_queries(store):
    for i in range(7, 60):
        store.add_lock(f"HL-{i}", "virtual", "1.0", secrets.token_bytes(32), now=0)
        store.add_customer(f"{2000 + i}", f"Kund {i}", f"Gatan {i}", now=0, provider=P)
        _mount(store, f"HL-{i}", f"{2000 + i}", f"2026-01-{i % 28 + 1:02d}")
        if i % 3:
            _hour(store, f"{2000 + i}", f"2026-01-{i % 28 + 1:02d}")
    statements = []
    engine = store._engine

    def listener(_conn, _cursor, statement, parameters, *_):
        statements.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", listener)
    try:
        report = store.compensation_report(P, "2026-01")
    finally:
        event.remove(engine, "before_cursor_execute", listener)
    assert len(report.mounts) == 53 and len(report.unmatched_mounts) == 17  # i % 3 == 0
    selects = [(s, p) for s, p in statements if s.lstrip().upper().startswith("SELECT")]
    assert len(selects) == 2
    with engine.connect() as conn:  # and each of them reads by index, not the whole table
        if engine.dialect.name == "sqlite":
            explain = "EXPLAIN QUERY PLAN "
        else:  # PostgreSQL: tables this small are cheaper to scan; can the index serve it?
            conn.exec_driver_sql("SET enable_seqscan = off")
            explain = "EXPLAIN "
        plans = [" ".join(str(row[-1]) for row in conn.exec_driver_sql(explain + sql, params))
                 for sql, params in selects]
    assert "ix_lock_lifecycle_provider_action_at" in plans[0], plans[0]
    assert "ix_compensation_hours_provider_day" in plans[1], plans[1]


# ---- CLI -------------------------------------------------------------------------------------

def _run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_register_import_list_and_report(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HEMLAS_STORE", str(tmp_path / "fleet.sqlite3"))
    with FleetStore(create=True) as s:
        for lock_id in ("HL-1", "HL-2"):
            s.add_lock(lock_id, "virtual", "1.0", secrets.token_bytes(32), now=0)
        s.add_customer("1001", "Karin", "Storgatan 1", now=0, provider=P)
        s.add_customer("1002", "Olle", "Vägen 3", now=0, provider=P)
        s.mount_lock("HL-1", "1001", None, "Fitter", _t("2026-01-05"))
        s.mount_lock("HL-2", "1002", None, "Fitter", _t("2026-01-20"))
    code, out, _ = _run(capsys, "compensation", "register", "--provider", P, "--customer",
                        "1001", "--date", "2026-01-05", "--by", "Coordinator")
    assert code == 0 and out.startswith('hour #1 "Uppstart smarta lås" registered for provider '
                                        'Omsorg AB, customer 1001, 2026-01-05')
    code, _, err = _run(capsys, "compensation", "register", "--provider", P, "--customer",
                        "1001", "--date", "2026-01-05", "--by", "Coordinator")
    assert code == 1 and "name it with --lock LOCK" in err
    code, out, _ = _run(capsys, "compensation", "register", "--provider", P, "--customer",
                        "1001", "--date", "2026-01-06", "--by", "Coordinator")
    assert "customer 1001 now has 2 hours in 2026-01: one per lock mounted" in out
    export = tmp_path / "export.csv"
    export.write_text("customer,date\n1003,2026-01-09\n", encoding="utf-8")
    code, out, _ = _run(capsys, "compensation", "import", str(export), "--provider", P, "--by",
                        "Coordinator")
    assert code == 0 and out.strip() == ("export.csv: 1 line(s) read, 1 hour(s) added, "
                                         "0 already registered")
    code, out, _ = _run(capsys, "compensation", "import", str(export), "--provider", P, "--by",
                        "Coordinator", "--json")
    assert json.loads(out)["added"] == [] and json.loads(out)["already_present"] == 1
    export.write_text("customer,date\n1003,2026-01-99\n", encoding="utf-8")
    code, _, err = _run(capsys, "compensation", "import", str(export), "--provider", P, "--by",
                        "Coordinator")
    assert code == 1 and "line 2: a date is written YYYY-MM-DD" in err
    code, _, err = _run(capsys, "compensation", "import", str(tmp_path / "none.csv"),
                        "--provider", P, "--by", "Coordinator")
    assert code == 1 and "cannot read" in err
    code, out, _ = _run(capsys, "compensation", "list", "--provider", P, "--month", "2026-01")
    assert code == 0 and out.splitlines()[0].endswith(": 3")
    for month in ("0000-01", "0001-01", "9999-12"):  # a message, not a traceback
        for argv in (("compensation", "list"), ("report", "compensation")):
            code, out, err = _run(capsys, *argv, "--provider", P, "--month", month)
            assert code == 1 and out == "" and "a month's year is in 1970..9998" in err
    code, out, err = _run(capsys, "compensation", "register", "--provider", P, "--customer",
                          "1001", "--date", "0001-01-01", "--by", "Coordinator")
    assert code == 1 and out == "" and "a date's year is in 1970..9998" in err
    code, out, _ = _run(capsys, "compensation", "list", "--provider", P)
    assert code == 0 and out.splitlines()[0].endswith(": 3")  # nothing stored

    table = tmp_path / "compensation.csv"
    code, out, _ = _run(capsys, "report", "compensation", "--provider", P, "--month", "2026-01",
                        "--csv", str(table))
    lines = out.splitlines()
    assert code == 0 and lines[0] == 'Compensation "Uppstart smarta lås": Omsorg AB, 2026-01'
    assert lines[1].split() == ["locks", "mounted:", "2", "hours", "registered:", "3",
                                "matched:", "1"]
    assert lines[2] == "mismatches: 3"
    assert lines[3].startswith("  MOUNTED, NO HOUR") and "lock HL-2" in lines[3]
    assert sum(line.startswith("  HOUR, NO MOUNT") for line in lines) == 2
    assert any("customer 1003: customer 1003 is not in the fleet store" in line for line in lines)
    rows = list(csv.DictReader(table.open(encoding="utf-8-sig")))
    assert [(r["kind"], r["status"]) for r in rows] == [
        ("mount", "matched"), ("mount", "no registered hour"), ("hour", "matched"),
        ("hour", "no mounted lock"), ("hour", "no mounted lock")]
    code, out, _ = _run(capsys, "report", "compensation", "--provider", P, "--month", "2026-01",
                        "--json")
    answer = json.loads(out)
    assert (answer["locks_mounted"], answer["hours_registered"], answer["balanced"]) == (2, 3,
                                                                                        False)
    assert [r["lock_id"] for r in answer["unmatched_mounts"]] == ["HL-2"]
    assert len(answer["unmatched_hours"]) == 2
    code, out, _ = _run(capsys, "report", "compensation", "--provider", P, "--month", "2025-12")
    assert code == 0 and "no mismatches" in out
    code, _, err = _run(capsys, "report", "compensation", "--provider", "Nobody", "--month",
                        "2026-01")
    assert code == 1 and "check the spelling" in err
