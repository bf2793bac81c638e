"""Batterirapport: per lock the battery's level, its newest reading, days left, last swap and a
trend (inline SVG drawn here, with a text alternative), filtered and sorted by the query
(`niva`, `sok`, `sortera`), and the same rows as CSV for a Swedish spreadsheet."""

from __future__ import annotations

import time

from fastapi import APIRouter, Request
from fastapi.responses import Response

from ..fleet import battery_report as br
from ..fleet.batteries import CRITICAL, LOW, STALE
from ..i18n import N_, Texts, _
from ..service.deps import StoreDep
from . import spreadsheet
from .pages import PageCaller
from .render import render, when

router = APIRouter(include_in_schema=False)

LEVELS = (CRITICAL, LOW, STALE, br.OK)
LEVEL_TEXT = Texts({CRITICAL: N_("CRITICAL"), LOW: N_("LOW"), STALE: N_("not heard from"),
                    br.OK: N_("OK")})
SORTS = Texts({"niva": N_("level"), "las": N_("lock"), "dagar": N_("days left"),
               "avlast": N_("last reading"), "byte": N_("last swap")})
_URGENCY = {level: i for i, level in enumerate(LEVELS)}
_FAR = 1 << 40  # sorts a missing number or time last


def _sort_key(sort: str):
    return {
        "niva": lambda r: (_URGENCY[r.level], r.days_left if r.days_left is not None else _FAR, r.lock_id),
        "las": lambda r: r.lock_id,
        "dagar": lambda r: (r.days_left if r.days_left is not None else _FAR, r.lock_id),
        "avlast": lambda r: (r.reading_at or 0, r.lock_id),  # the oldest first: those to chase
        "byte": lambda r: (r.last_swap_at or 0, r.lock_id),
    }[sort]


def _rows(fleet, caller, level: str, search: str, sort: str) -> tuple[list, str, str, str]:
    level = level if level in LEVELS else ""
    sort = sort if sort in SORTS else "niva"
    search = search.strip()[:100]
    rows = br.battery_report(fleet, caller)
    if level:
        rows = [r for r in rows if r.level == level]
    if search:
        needle = search.casefold()
        rows = [r for r in rows if any(needle in (v or "").casefold() for v in
                                       (r.lock_id, r.customer_number, r.customer_name))]
    return sorted(rows, key=_sort_key(sort)), level, search, sort


def trend_svg(row: br.LockBattery) -> dict | None:
    """The plot's points (a 200 x 50 box: loaded mV over time) and its text alternative."""
    points = row.trend
    if len(points) < 2:
        return None
    t0, t1 = points[0][0], points[-1][0]
    lo, hi = min(p[1] for p in points), max(p[1] for p in points)
    span_t, span_v = max(1, t1 - t0), max(1, hi - lo)
    xy = " ".join(f"{4 + 192 * (at - t0) / span_t:.1f},{46 - 42 * (mv - lo) / span_v:.1f}"
                  for at, mv, _percent in points)
    summary = _("Loaded voltage, {n} readings: {first} mV on {start}, {last} mV on {end} "
                "(lowest {low} mV, highest {high} mV)").format(
        n=len(points), first=points[0][1], start=time.strftime("%Y-%m-%d", time.localtime(t0)),
        last=points[-1][1], end=time.strftime("%Y-%m-%d", time.localtime(t1)), low=lo, high=hi)
    return {"points": xy, "summary": summary}


@router.get("/batterirapport")
def battery_report_page(request: Request, caller: PageCaller, fleet: StoreDep, niva: str = "",
                        sok: str = "", sortera: str = "niva") -> Response:
    rows, level, search, sort = _rows(fleet, caller, niva, sok, sortera)
    return render(request, "report.html", caller=caller, rows=rows, level=level, search=search,
                  sort=sort, levels=LEVELS, level_text=LEVEL_TEXT, sorts=SORTS,
                  trend=trend_svg, trend_days=br.TREND_DAYS,
                  csv_query=request.url.query)


CSV_HEADER = ("level", "lock_id", "customer_number", "customer_name", "loaded_v", "idle_v",
              "percent", "days_left", "reading_at", "last_swap_at")


@router.get("/batterirapport.csv")
def battery_report_csv(caller: PageCaller, fleet: StoreDep, niva: str = "", sok: str = "",
                       sortera: str = "niva") -> Response:
    rows, *_rest = _rows(fleet, caller, niva, sok, sortera)
    text, volts = spreadsheet.text_cell, spreadsheet.decimal_cell
    body = spreadsheet.csv_document(CSV_HEADER, (
        [text(r.level), text(r.lock_id), text(r.customer_number), text(r.customer_name),
         volts(None if r.loaded_mv is None else r.loaded_mv / 1000, 2),
         volts(None if r.idle_mv is None else r.idle_mv / 1000, 2),
         spreadsheet.int_cell(r.percent), spreadsheet.int_cell(r.days_left),
         text(when(r.reading_at) if r.reading_at else None),
         text(when(r.last_swap_at) if r.last_swap_at else None)] for r in rows))
    stamp = time.strftime("%Y-%m-%d")
    return Response(body, media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="batterirapport-{stamp}.csv"'})
