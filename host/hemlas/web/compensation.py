"""Ersättning: register an "Uppstart smarta lås" hour for a customer of the caller's provider,
and the month's compensation report against the locks mounted, every mismatch listed, as a
page and as CSV for a spreadsheet set to Swedish (fleet/compensation_access.py's rules).

A refusal is shown beside the form with its rule's name, in the page's language; another
provider's customer number is refused word for word as one that does not exist. A form that
worked redirects (303), so a reload sends nothing twice; the same form sent twice is the same
registration (its row key), refused the second time as already there.
"""

from __future__ import annotations

import time
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from ..fleet import compensation_access as access
from ..fleet.customers import UnknownCustomerError
from ..fleet.errors import FleetError
from ..fleet.hours import CompensationError
from ..fleet.roles import ForbiddenError
from ..service import problems
from ..service.deps import StoreDep
from . import spreadsheet
from .pages import Form, PageCaller
from .render import render, when

router = APIRouter(include_in_schema=False)
FIELD_MAX = 100  # characters of a field echoed back into the form


def _refusal(err: FleetError) -> dict:
    return {"message": str(err), "rule": problems.rule_name(err)}


def _this_month() -> str:
    return time.strftime("%Y-%m")


def _report(fleet, caller, month: str, provider: str):
    """(report or None, refusal or None, the providers to choose from, the one shown)."""
    providers = access.report_providers(fleet, caller)
    if caller.all_providers and provider not in providers:
        provider = providers[0] if providers else ""
    try:
        return access.compensation_report(fleet, caller, month, provider), None, providers, provider
    except CompensationError as err:
        return None, _refusal(err), providers, provider


def _page(request, caller, fleet, month: str, provider: str, status: int = 200,
          form: dict | None = None, refusal: dict | None = None, done: bool = False) -> Response:
    month = (month or _this_month())[:FIELD_MAX]
    report, report_refusal, providers, provider = _report(fleet, caller, month, provider)
    today = time.strftime("%Y-%m-%d")
    hour_day = {line.hour.hour_id: line.hour.day for line in report.hours} if report else {}
    mount_of = {m.record_id: m for m in report.mounts} if report else {}
    return render(request, "compensation.html", status if not report_refusal else 400,
                  caller=caller, month=month, report=report, report_refusal=report_refusal,
                  providers=providers, provider=provider, today=today,
                  form=form or {"kund": "", "dag": today, "las": ""}, refusal=refusal, done=done,
                  hour_day=hour_day, mount_of=mount_of,
                  return_to=f"/ersattning?{urlencode({'manad': month, 'leverantor': provider})}")


@router.get("/ersattning")
def compensation_page(request: Request, caller: PageCaller, fleet: StoreDep, manad: str = "",
                      leverantor: str = "", klart: str = "") -> Response:
    return _page(request, caller, fleet, manad, leverantor, done=klart == "timme")


@router.post("/ersattning/timme")
def register_hour(request: Request, caller: PageCaller, fleet: StoreDep, form: Form) -> Response:
    fields = {name: form.get(name, "")[:FIELD_MAX] for name in ("kund", "dag", "las")}
    try:
        hour = access.register_hour(fleet, caller, fields["kund"], fields["dag"], fields["las"])
    except FleetError as err:
        if isinstance(err, ForbiddenError):
            raise  # the error page: 403
        # Another provider's customer is refused exactly as none: the same status and text.
        status = 404 if isinstance(err, UnknownCustomerError) else 409 if isinstance(
            err, CompensationError) else 400
        return _page(request, caller, fleet, form.get("manad", ""), form.get("leverantor", ""),
                     status, fields, _refusal(err))
    return RedirectResponse(f"/ersattning?manad={hour.day:%Y-%m}&klart=timme", status_code=303)


CSV_HEADER = ("status", "lock_id", "customer_number", "customer_name", "mounted_at", "hour_id",
              "hour_day", "registered_by", "reason")


@router.get("/ersattning.csv")
def compensation_csv(request: Request, caller: PageCaller, fleet: StoreDep, manad: str = "",
                     leverantor: str = "") -> Response:
    """Each mount with its hour (or none), then each hour matching no mount, with why."""
    report, _refused, _providers, _provider = _report(fleet, caller, manad or _this_month(),
                                                     leverantor)
    if report is None:
        return _page(request, caller, fleet, manad, leverantor)  # the page says why (400)
    hours = {line.hour.hour_id: line.hour for line in report.hours}
    text, number = spreadsheet.text_cell, spreadsheet.int_cell
    rows = []
    for m in report.mounts:
        hour = hours.get(m.hour_id)
        rows.append([text("matched" if hour else "mount-without-hour"), text(m.lock_id),
                     text(m.customer_number), text(m.customer_name), text(when(m.at)),
                     number(m.hour_id), text(hour.day.isoformat() if hour else None),
                     text(hour.registered_by if hour else None), ""])
    for line in report.unmatched_hours:
        h = line.hour
        rows.append([text("hour-without-mount"), text(h.lock_id), text(h.customer_number),
                     text(line.customer_name), "", number(h.hour_id), text(h.day.isoformat()),
                     text(h.registered_by), text(line.reason)])
    body = spreadsheet.csv_document(CSV_HEADER, rows)
    return Response(body, media_type="text/csv; charset=utf-8", headers={
        "Content-Disposition": f'attachment; filename="ersattning-{report.month}.csv"'})
