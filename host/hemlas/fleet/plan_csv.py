"""Reading a planning system's export of planned visits (docs/planning.md): the CSV, each row's
own checks, and local times in Europe/Stockholm. No database here: planned_visits.py checks
what needs the store (the customer is the provider's, the carer is its carer) and imports.

Every problem is a :class:`RowProblem` (line, rule, message); the caller imports nothing when
there is one. Lines are the file's own (1 is the header), counted as a spreadsheet shows them:
a quoted cell over two lines makes its row start on the first.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

from ..i18n import N_, Texts, _
from ._common import _UINT32_MAX
from .errors import FleetError
from .models import CUSTOMER_NUMBER_LENGTH, EXTERNAL_ID_LENGTH

STOCKHOLM = ZoneInfo("Europe/Stockholm")  # the municipality's time: what planners write
# A day's plan for a large provider is a few thousand rows of ~80 bytes: 2 MiB is ten times
# that, and bounds what one request (or a mistaken file) makes the service parse and hold.
MAX_PLAN_BYTES = 2 * 1024 * 1024
MAX_PLAN_ROWS = 20_000
# A visit longer than this is a shift, not a visit: keys by the plan exist so that no carer
# holds a whole shift's key to every door (docs/planning.md); 12 h is docs/visits.md's limit too.
MAX_VISIT_S = 12 * 3600
PLANNED, CANCELLED = "planned", "cancelled"
_STATUS_WORDS = {"": PLANNED, "planned": PLANNED, "planerad": PLANNED, "planerat": PLANNED,
                 "active": PLANNED, "cancelled": CANCELLED, "canceled": CANCELLED,
                 "inställd": CANCELLED, "installd": CANCELLED, "avbokad": CANCELLED,
                 "avbokat": CANCELLED}
# Column names, English and as Swedish exports name them; other columns are ignored.
HEADERS = {
    "customer": ("customer", "customer_number", "kund", "kundnr", "kundnummer"),
    "carer": ("carer", "carer_login", "login", "personal", "medarbetare", "omsorgspersonal"),
    "start": ("start", "planned_start", "planerad_start", "starttid", "från", "fran"),
    "end": ("end", "planned_end", "planerat_slut", "sluttid", "slut", "till"),
    "visit_id": ("visit_id", "visit", "besök", "besok", "besöks_id", "besoks_id", "besöksid"),
    "status": ("status",),
}
REQUIRED = ("customer", "carer", "start", "end")
_ISO = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2})?(Z|[+-]\d{2}:?\d{2})?")
_DIGITS = re.compile(r"[0-9]+")
_LOGIN = re.compile(r"[a-z0-9][a-z0-9._-]{1,63}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

# What each rule says; the rule names are for programs (the API's errors list) and stay English.
MESSAGES = Texts({
    "plan-encoding": N_("the file is not UTF-8 text (save it as \"CSV UTF-8\"): {detail}"),
    "plan-csv": N_("not readable as CSV: {detail}"),
    "plan-header": N_("the header needs the columns customer, carer, start and end (or kund, "
                      "personal, starttid, sluttid), separated by ';' or ','; it has: {found}"),
    "plan-too-many-rows": N_("more than {limit} rows: split the file"),
    "plan-fields": N_("{n} fields, the header has {header}"),
    "missing-field": N_("{column} is empty"),
    "customer-number": N_("a customer number is digits only, not {value!r}"),
    "carer-login": N_("a carer is named by their login name (a-z, 0-9, '.', '_', '-'), not "
                      "{value!r}"),
    "time-format": N_("{column} {value!r} is not a time: write it as 2026-03-29T08:30 "
                      "(Swedish local time) or with its offset, 2026-03-29T08:30+02:00"),
    "time-nonexistent": N_("{column} {value!r} does not exist in Swedish time (the clocks go "
                           "forward from 02:00 to 03:00 that night): plan it at 03:00 or later"),
    "time-ambiguous": N_("{column} {value!r} happens twice in Swedish time (the clocks go back "
                         "from 03:00 to 02:00 that night): write its offset, {value}+02:00 "
                         "(the first) or {value}+01:00 (the second)"),
    "time-range": N_("{column} {value!r} is outside the years a lock's clock can say "
                     "(1970 to 2106)"),
    "end-before-start": N_("the end {end} is not after the start {start}"),
    "visit-too-long": N_("the visit lasts {hours} hours; a planned visit lasts at most {limit} "
                         "hours (a shift is several visits)"),
    "visit-id": N_("a visit id is 1 to {limit} characters without control characters"),
    "status": N_("status {value!r} is neither planned (planerad) nor cancelled (inställd)"),
    "cancel-needs-visit-id": N_("a cancelled visit needs its visit id: only by it is the "
                                "planned visit found"),
    "duplicate-visit-id": N_("visit id {value!r} is also on line {other}, with other fields"),
})


@dataclass(frozen=True)
class RowProblem:
    line: int
    rule: str
    message: str


@dataclass(frozen=True)
class PlanRow:
    """One checked row: times in unix seconds (UTC)."""

    line: int
    customer_number: str
    carer_login: str
    start: int
    end: int
    visit_id: str | None
    status: str  # PLANNED or CANCELLED

    @property
    def fields(self) -> tuple:
        return (self.customer_number, self.carer_login, self.start, self.end, self.status)


class PlanFileTooLargeError(FleetError):
    rule = "plan-too-large"

    def __init__(self, limit: int = MAX_PLAN_BYTES):
        super().__init__(_("the plan file is larger than {limit} bytes: split it (a day or a "
                           "week at a time)").format(limit=limit))


class LocalTimeError(ValueError):
    def __init__(self, rule: str):
        super().__init__(rule)
        self.rule = rule


def parse_local_time(text: str) -> int:
    """An ISO 8601 time as unix seconds: Swedish local time (Europe/Stockholm, summer time
    included) unless it carries an offset or Z.

    Raises:
        LocalTimeError: its rule: time-format, time-nonexistent (in the spring gap),
            time-ambiguous (in the autumn hour that happens twice, without an offset),
            time-range (outside uint32, what a lock's clock holds).
    """
    if not _ISO.fullmatch(text):
        raise LocalTimeError("time-format")
    try:
        parsed = datetime.fromisoformat(text.replace(" ", "T", 1))
    except ValueError:  # 2026-02-30, 25:00
        raise LocalTimeError("time-format") from None
    if parsed.tzinfo is None:
        first, second = (parsed.replace(tzinfo=STOCKHOLM, fold=fold) for fold in (0, 1))
        if first.utcoffset() != second.utcoffset():
            back = first.astimezone(timezone.utc).astimezone(STOCKHOLM).replace(tzinfo=None)
            raise LocalTimeError("time-nonexistent" if back != parsed else "time-ambiguous")
        parsed = first
    try:
        seconds = int(parsed.timestamp())
    except (OverflowError, ValueError, OSError):
        raise LocalTimeError("time-range") from None
    if not 0 <= seconds <= _UINT32_MAX:
        raise LocalTimeError("time-range")
    return seconds


def decode(data: bytes) -> tuple[str | None, list[RowProblem]]:
    """The file's text (without a byte-order mark), or the problem that it is not UTF-8."""
    if len(data) > MAX_PLAN_BYTES:
        raise PlanFileTooLargeError()
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return None, [_problem(1, "plan-encoding", detail="UTF-16")]
    try:
        return data.decode("utf-8-sig"), []
    except UnicodeDecodeError as err:
        line = data[:err.start].count(b"\n") + 1
        return None, [_problem(line, "plan-encoding", detail=f"byte {data[err.start]:#04x}")]


def parse_plan(data: bytes) -> tuple[list[PlanRow], list[RowProblem], int]:
    """(the checked rows, every problem, rows read). Identical rows with one visit id are one.

    Raises:
        PlanFileTooLargeError: more than MAX_PLAN_BYTES.
    """
    text, problems = decode(data)
    if text is None:
        return [], problems, 0
    head = text.split("\n", 1)[0]
    delimiter = max(";,\t", key=head.count)
    lines = text.splitlines(keepends=True)
    reader = csv.reader(lines, delimiter=delimiter, strict=True)
    rows: list[PlanRow] = []
    by_id: dict[str, PlanRow] = {}
    read = 0
    try:
        header = [name.strip().casefold() for name in next(reader, [])]
        columns = {field: header.index(name) for field, names in HEADERS.items()
                   for name in names if name in header}
        if any(field not in columns for field in REQUIRED):
            return [], [_problem(1, "plan-header", found=delimiter.join(header) or "-")], 0
        while True:
            start_line = reader.line_num + 1
            cells = next(reader, None)
            if cells is None:
                break
            if not any(cell.strip() for cell in cells):
                continue
            read += 1
            if read > MAX_PLAN_ROWS:
                problems.append(_problem(start_line, "plan-too-many-rows", limit=MAX_PLAN_ROWS))
                break
            if len(cells) > len(header):
                problems.append(_problem(start_line, "plan-fields", n=len(cells),
                                         header=len(header)))
                continue
            cell = {f: cells[i].strip() if i < len(cells) else "" for f, i in columns.items()}
            row, problem = _check_row(start_line, cell, header, columns)
            if problem is not None:
                problems.append(problem)
            elif row.visit_id is not None and row.visit_id in by_id:
                other = by_id[row.visit_id]
                if other.fields != row.fields:
                    problems.append(_problem(row.line, "duplicate-visit-id", value=row.visit_id,
                                             other=other.line))
            else:
                if row.visit_id is not None:
                    by_id[row.visit_id] = row
                rows.append(row)
    except csv.Error as err:
        problems.append(_problem(reader.line_num or 1, "plan-csv", detail=str(err)))
    return rows, problems, read


def _check_row(line: int, cell: dict, header: list[str],
               columns: dict) -> tuple[PlanRow | None, RowProblem | None]:
    """The row, or its first problem (one per row: the rest often follow from it)."""
    def column(field: str) -> str:
        return header[columns[field]]

    for field in REQUIRED:
        if not cell[field]:
            return None, _problem(line, "missing-field", column=column(field))
    number = cell["customer"]
    if not _DIGITS.fullmatch(number) or len(number) > CUSTOMER_NUMBER_LENGTH:
        return None, _problem(line, "customer-number", value=number)
    login = cell["carer"].casefold()
    if not _LOGIN.fullmatch(login):
        return None, _problem(line, "carer-login", value=cell["carer"])
    times = {}
    for field in ("start", "end"):
        try:
            times[field] = parse_local_time(cell[field])
        except LocalTimeError as err:
            return None, _problem(line, err.rule, column=column(field), value=cell[field])
    start, end = times["start"], times["end"]
    if end <= start:
        return None, _problem(line, "end-before-start", start=cell["start"], end=cell["end"])
    if end - start > MAX_VISIT_S:
        return None, _problem(line, "visit-too-long", hours=f"{(end - start) / 3600:.2f}",
                              limit=MAX_VISIT_S // 3600)
    visit_id = cell.get("visit_id") or None
    if visit_id is not None and (len(visit_id) > EXTERNAL_ID_LENGTH or _CONTROL.search(visit_id)):
        return None, _problem(line, "visit-id", limit=EXTERNAL_ID_LENGTH)
    status = _STATUS_WORDS.get(cell.get("status", "").casefold())
    if status is None:
        return None, _problem(line, "status", value=cell["status"])
    if status == CANCELLED and visit_id is None:
        return None, _problem(line, "cancel-needs-visit-id")
    return PlanRow(line, number, login, start, end, visit_id, status), None


def _problem(line: int, rule: str, **values) -> RowProblem:
    return RowProblem(line, rule, MESSAGES[rule].format(**values))


def problem(line: int, rule: str, message: str) -> RowProblem:
    """A problem found later (planned_visits.py: the store's checks)."""
    return RowProblem(line, rule, message)
