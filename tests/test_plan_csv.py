"""The planning system's CSV (docs/planning.md) with hostile input: every row checked, each
problem with its line and rule, nothing imported when one row is bad; formula text stored as
text and escaped in every CSV export. Through the real store (SQLite)."""

from __future__ import annotations

import csv
import io
import os
import sys

import pytest

from hemlas.fleet import alarm_access, plan_csv, plan_listing, planned_visits
from hemlas.fleet.models import PlannedVisit
from hemlas.fleet.roles import local_caller
from hemlas.fleet.store import FleetStore

sys.path.insert(0, os.path.dirname(__file__))
from service_helpers import A_CUSTOMERS, B_CUSTOMERS, NOW, PROVIDER_A, populate  # noqa: E402

A1, A2 = sorted(A_CUSTOMERS)
B1 = next(iter(B_CUSTOMERS))
HEADER = "kund;personal;starttid;sluttid;besöks_id\n"
GOOD = HEADER + f"{A1};carer-a;2030-05-02T08:00;2030-05-02T08:45;V-1\n"


@pytest.fixture
def store(tmp_path):
    with FleetStore(str(tmp_path / "fleet.sqlite3")) as s:
        populate(s)
        yield s


def _import(store, text, **kwargs):
    data = text if isinstance(text, bytes) else text.encode()
    with store.unit_of_work() as uow:
        return planned_visits.import_plan(uow, local_caller(), data, provider=PROVIDER_A, now=NOW,
                                          **kwargs)


def _refused(store, text) -> list[tuple[int, str]]:
    with pytest.raises(planned_visits.PlanImportError) as caught:
        _import(store, text)
    assert "nothing imported" in str(caught.value)
    with store.unit_of_work() as uow:
        assert uow.query(PlannedVisit).count() == 0, "a refused file imported something"
    return [(p.line, p.rule) for p in caught.value.problems]


def test_a_good_file_with_or_without_a_bom_and_with_either_delimiter(store):
    assert _import(store, GOOD).added == 1
    comma = GOOD.replace(";", ",")
    assert _import(store, ("\ufeff" + comma).encode()).unchanged == 1  # same visit id: not twice
    crlf = GOOD.replace("\n", "\r\n").replace("V-1", "V-2")
    assert _import(store, b"\xef\xbb\xbf" + crlf.encode()).added == 1


def test_without_visit_ids_the_same_rows_again_in_any_order_are_the_same_visits(store):
    rows = [f"{A1};carer-a;2030-05-02T08:00;2030-05-02T08:45;\n",
            f"{A2};carer-a;2030-05-02T09:00;2030-05-02T09:30;\n"]
    assert _import(store, HEADER + "".join(rows)).added == 2
    again = _import(store, HEADER + "".join(reversed(rows)) + rows[0])  # a row twice: once
    assert (again.added, again.unchanged) == (0, 2)
    with store.unit_of_work() as uow:
        assert uow.query(PlannedVisit).count() == 2


def test_every_bad_row_is_named_by_line_and_rule_and_nothing_is_imported(store):
    text = (HEADER
            + f"{A1};carer-a;2030-05-02T08:00;2030-05-02T08:45;ok-row\n"
            + "12a;carer-a;2030-05-02T08:00;2030-05-02T08:45;\n"
            + f"{A1};Carer A;2030-05-02T08:00;2030-05-02T08:45;\n"
            + f"{A1};carer-a;2030-02-30T08:00;2030-05-02T08:45;\n"
            + f"{A1};carer-a;02.05.2030 08:00;2030-05-02T08:45;\n"
            + f"{A1};carer-a;2030-05-02T09:00;2030-05-02T08:45;\n"
            + f"{A1};carer-a;2030-05-02T06:00;2030-05-02T19:00;\n"
            + f"{A1};carer-a;2030-03-31T02:30;2030-03-31T03:30;\n"  # spring gap
            + f"{A1};carer-a;2030-10-27T02:30;2030-10-27T03:30;\n"  # autumn: twice
            + f"{B1};carer-a;2030-05-02T08:00;2030-05-02T08:45;\n"  # B's customer
            + "9999999;carer-a;2030-05-02T08:00;2030-05-02T08:45;\n"  # nobody's
            + f"{A1};carer-b;2030-05-02T08:00;2030-05-02T08:45;\n"  # B's carer
            + f"{A1};;2030-05-02T08:00;2030-05-02T08:45;\n"
            + f"{A1};carer-a;2030-05-02T08:00;2030-05-02T08:45;x;extra\n"
            + f"{A1};carer-a;2030-05-02T08:00;2030-05-02T09:45;ok-row\n")  # same id, other end
    assert _refused(store, text) == [
        (3, "customer-number"), (4, "carer-login"), (5, "time-format"), (6, "time-format"),
        (7, "end-before-start"), (8, "visit-too-long"), (9, "time-nonexistent"),
        (10, "time-ambiguous"), (11, "unknown-customer"), (12, "unknown-customer"),
        (13, "unknown-carer"), (14, "missing-field"), (15, "plan-fields"),
        (16, "duplicate-visit-id")]


def test_another_providers_customer_is_refused_word_for_word_as_one_that_does_not_exist(store):
    def message(number):
        with pytest.raises(planned_visits.PlanImportError) as caught:
            _import(store, HEADER + f"{number};carer-a;2030-05-02T08:00;2030-05-02T08:45;\n")
        return caught.value.problems[0].message.replace(number, "N")
    assert message(B1) == message("9999999")


def test_the_autumn_hour_with_its_offset_is_two_visits_an_hour_apart(store):
    text = (HEADER + f"{A1};carer-a;2030-10-27T02:30+02:00;2030-10-27T02:50+02:00;first\n"
            + f"{A1};carer-a;2030-10-27T02:30+01:00;2030-10-27T02:50+01:00;second\n")
    assert _import(store, text).added == 2
    with store.unit_of_work() as uow:
        starts = sorted(v.planned_start for v in uow.query(PlannedVisit))
    assert starts[1] - starts[0] == 3600
    # 11.5 hours by the wall clock across that night are 12.5 hours of work: too long.
    assert _refused_again(store, HEADER + f"{A1};carer-a;2030-10-26T20:00;2030-10-27T07:30;\n") \
        == [(2, "visit-too-long")]


def _refused_again(store, text):
    with pytest.raises(planned_visits.PlanImportError) as caught:
        _import(store, text)
    return [(p.line, p.rule) for p in caught.value.problems]


@pytest.mark.parametrize("text, rule", [
    ("kund|personal|starttid|sluttid\n1|carer-a|2030-05-02T08:00|2030-05-02T09:00\n", "plan-header"),
    ("kund;personal;starttid\n1;carer-a;2030-05-02T08:00\n", "plan-header"),  # no end column
    ("", "plan-header"),
    (b"\xff\xfe" + "kund;personal".encode("utf-16-le"), "plan-encoding"),
    (HEADER.encode() + b"91004\xe417;carer-a;2030-05-02T08:00;2030-05-02T09:00;\n", "plan-encoding"),
    (HEADER + '1;carer-a;"2030-05-02T08:00;2030-05-02T09:00\n', "plan-csv"),  # unclosed quote
    (HEADER + f"{A1};carer-a;2030-05-02T08:00;2030-05-02T09:00;V\x001\n", "visit-id"),  # a NUL
    (HEADER + f"{A1};carer-a;2030-05-02T08:00;2030-05-02T09:00;V\x1b[2J\n", "visit-id"),  # an escape
])
def test_a_file_that_is_not_the_format_says_why_on_which_line(store, text, rule):
    problems = _refused(store, text)
    assert [r for _line, r in problems] == [rule]
    if rule == "plan-encoding" and isinstance(text, bytes) and text.startswith(HEADER.encode()):
        assert problems[0][0] == 2  # the line of the first bad byte


def test_a_quoted_cell_over_two_lines_keeps_the_line_numbers_of_what_follows(store):
    text = (HEADER + f'{A1};carer-a;2030-05-02T08:00;2030-05-02T08:45;"V\n1"\n'
            + f"{A1};carer-a;not a time;2030-05-02T08:45;V2\n")
    assert _refused(store, text) == [(2, "visit-id"), (4, "time-format")]  # a newline: no id


def test_a_file_over_the_bound_is_refused_before_it_is_parsed(store):
    row = f"{A1};carer-a;2030-05-02T08:00;2030-05-02T08:45;\n".encode()
    big = HEADER.encode() + row * (10 * 1024 * 1024 // len(row))  # 10 MB
    with pytest.raises(plan_csv.PlanFileTooLargeError, match="larger than"):
        _import(store, big)
    many = HEADER.encode() + b"".join(
        f"{A1};carer-a;2030-05-02T08:00;2030-05-02T08:45;id{i}\n".encode()
        for i in range(plan_csv.MAX_PLAN_ROWS + 1))
    assert len(many) < plan_csv.MAX_PLAN_BYTES
    assert _refused(store, many)[-1] == (plan_csv.MAX_PLAN_ROWS + 2, "plan-too-many-rows")


def test_formula_text_is_stored_as_text_and_escaped_in_every_csv_export(store):
    formula = "=cmd|' /C calc'!A0"
    _import(store, HEADER + f'{A1};carer-a;2030-05-02T08:00;2030-05-02T08:45;"{formula}"\n')
    with store.unit_of_work() as uow:
        assert uow.query(PlannedVisit).one().external_id == formula  # as it came
        access = alarm_access.request_alarm_key(uow, local_caller(), A1, "+larm @03:12",
                                                carer_login="carer-a", now=NOW)
        assert access.visit.reason == "+larm @03:12"
        exports = [plan_listing.as_csv(plan_listing.visits(uow, local_caller())),
                   alarm_access.report_csv(uow, alarm_access.alarm_accesses(uow, local_caller()))]
    for export in exports:
        assert export.startswith("\ufeff")
        cells = [c for row in csv.reader(io.StringIO(export[1:])) for c in row]
        assert not any(c[:1] in "=+-@" for c in cells if c), cells
    assert "'" + formula in exports[0] and "'+larm @03:12" in exports[1]


def test_cancelling_through_the_file_needs_the_visit_id(store):
    text = HEADER.replace("besöks_id", "besöks_id;status") + \
        f"{A1};carer-a;2030-05-02T08:00;2030-05-02T08:45;;inställd\n" + \
        f"{A1};carer-a;2030-05-02T08:00;2030-05-02T08:45;V9;kanske\n"
    assert _refused(store, text) == [(2, "cancel-needs-visit-id"), (3, "status")]
