"""Reports over the fleet store: `hemlas report batteries`, the coordinators' start page, and
`hemlas report compensation`, a provider's month of mounted locks beside its registered hours.

The battery report lists every lock someone must look at (CRITICAL, LOW, or not heard from),
most urgent first: as a terminal table, JSON, CSV, or a self-contained HTML page with each
listed lock's battery trend drawn by matplotlib (inline SVG, so the page is one file).
"""

from __future__ import annotations

import html
import io
import time
from dataclasses import asdict
from datetime import datetime

from ..fleet.batteries import DEFAULT_STALE_AFTER_S
from ..fleet.doors import DEFAULT_FORCED_WITHIN_S, DoorWarning
from ..fleet.models import (BatteryReadingRecord, BatteryWarning, CompensationHourLine,
                            CompensationMount, CompensationReport)
from ..fleet.store import FleetStore
from ..codes import BatteryState
from . import formats
from .formats import named, table, when
from .output import CommandError, emit

TREND_DAYS = 180  # the plots show half a year: a battery lasts about a year
TREND_MAX_READINGS = 2000  # enough for daily readings over the window, bounded per lock
_CSV_FIELDS = ["level", "lock_id", "customer_number", "customer_name", "battery", "battery_code",
               "loaded_mv", "idle_mv", "percent", "days_left", "reading_at", "last_swap_at",
               "reason"]


def _row(warning: BatteryWarning) -> dict:
    """A warning as JSON (and CSV): ISO times, the battery state named beside its code."""
    row = formats.iso_times(asdict(warning), "reading_at", "last_swap_at")
    del row["state"]
    return {**row, **named("battery", warning.state, BatteryState)}


def do_report_batteries(args) -> None:
    if args.stale_days <= 0:
        raise CommandError("--stale-days must be positive")
    now = int(time.time())
    with FleetStore() as store:
        warnings = store.battery_warnings(now=now, stale_after_s=int(args.stale_days * 86400))
        trends = {}
        if args.html:
            for w in warnings:
                trends[w.lock_id] = (
                    store.battery_readings(w.lock_id, since=now - TREND_DAYS * 86400,
                                           limit=TREND_MAX_READINGS),
                    [s.registered_at for s in store.swaps(w.lock_id) if s.registered_at])
    rows = [_row(w) for w in warnings]
    written = []
    if args.csv:
        formats.write_csv(args.csv, _CSV_FIELDS, rows, formats.csv_delimiter(args))
        written.append(args.csv)
    if args.html:
        formats.write_private(args.html, _html(warnings, trends, now, args.stale_days))
        written.append(args.html)
    human = _table(warnings) + "".join(f"\nwritten: {path}" for path in written)
    emit(args, human, rows)


def _table(warnings: list[BatteryWarning]) -> str:
    if not warnings:
        return "all batteries OK: every lock reported recently, none LOW or CRITICAL"
    return table(["level", "lock", "customer", "mV", "%", "days", "last reading", "last swap",
                  "what to do"],
                 [[w.level, w.lock_id,
                   " ".join(x for x in (w.customer_number, w.customer_name) if x) or None,
                   w.loaded_mv, w.percent, w.days_left, when(w.reading_at), when(w.last_swap_at),
                   w.reason] for w in warnings])


def do_report_doors(args) -> None:
    """The locks whose door needs attention (docs/knock.md): forced entries, doors left open."""
    if args.forced_days <= 0:
        raise CommandError("--forced-days must be positive")
    with FleetStore() as store:
        warnings = store.door_warnings(forced_within_s=int(args.forced_days * 86400))
    rows = [formats.iso_times(asdict(w), "at") for w in warnings]
    if args.csv:
        formats.write_csv(args.csv, list(DoorWarning.__dataclass_fields__), rows, formats.csv_delimiter(args))
    human = ("no door warnings: no forced entry, no door left open" if not warnings else
             table(["level", "lock", "customer", "when", "what to do"],
                   [[w.level, w.lock_id, " ".join(x for x in (w.customer_number, w.customer_name) if x) or None,
                     when(w.at), w.reason] for w in warnings]))
    emit(args, human + (f"\nwritten: {args.csv}" if args.csv else ""), rows)


def _dash(value: int | None) -> str:
    return "-" if value is None else str(value)


# ---- HTML ------------------------------------------------------------------------------------

_STYLE = """body{font-family:sans-serif;margin:2em;color:#222}
table{border-collapse:collapse}td,th{padding:.3em .7em;border-bottom:1px solid #ccc;text-align:left}
.CRITICAL{background:#f8d0d0}.LOW{background:#fbecc4}.stale{background:#e8e8e8}
section{margin-top:2em}svg{max-width:100%;height:auto}"""


def _html(warnings: list[BatteryWarning], trends: dict, now: int, stale_days: float) -> str:
    e = html.escape
    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
             "<title>hemlås battery report</title>", f"<style>{_STYLE}</style></head><body>",
             "<h1>Battery report</h1>",
             f"<p>{e(when(now))}: locks whose battery is CRITICAL or LOW, or not read for "
             f"{e(f'{stale_days:g}')} days.</p>"]
    if not warnings:
        parts.append("<p><strong>All batteries OK.</strong></p></body></html>")
        return "\n".join(parts)
    parts.append("<table><tr><th>level</th><th>lock</th><th>customer</th><th>loaded mV</th>"
                 "<th>%</th><th>days left</th><th>last reading</th><th>last swap</th>"
                 "<th>what to do</th></tr>")
    for w in warnings:
        customer = " ".join(x for x in (w.customer_number, w.customer_name) if x) or "-"
        cells = [w.level, w.lock_id, customer, _dash(w.loaded_mv), _dash(w.percent),
                 _dash(w.days_left), when(w.reading_at), when(w.last_swap_at), w.reason]
        parts.append(f'<tr class="{e(w.level)}">'
                     + "".join(f"<td>{e(c)}</td>" for c in cells[:1])
                     + f'<td><a href="#lock-{e(w.lock_id)}">{e(w.lock_id)}</a></td>'
                     + "".join(f"<td>{e(c)}</td>" for c in cells[2:]) + "</tr>")
    parts.append("</table>")
    for w in warnings:
        readings, swaps = trends.get(w.lock_id, ([], []))
        parts.append(f'<section id="lock-{e(w.lock_id)}"><h2>{e(w.lock_id)}: {e(w.reason)}</h2>')
        parts.append(_trend_svg(w.lock_id, readings, swaps) if readings
                     else f"<p>No readings in the last {TREND_DAYS} days.</p>")
        parts.append("</section>")
    parts.append("</body></html>")
    return "\n".join(parts)


def _trend_svg(lock_id: str, readings: list[BatteryReadingRecord], swaps: list[int]) -> str:
    """The lock's loaded voltage and charge over time, swaps marked, as inline SVG."""
    import matplotlib  # imported here: only --html pays for it
    from matplotlib.dates import AutoDateLocator, ConciseDateFormatter
    from matplotlib.figure import Figure  # no pyplot: no GUI backend, no global figures

    matplotlib.use("Agg")
    times = [datetime.fromtimestamp(r.at) for r in readings]
    # hashsalt: the SVG's element ids must differ between the plots inlined in one page.
    with matplotlib.rc_context({"svg.hashsalt": lock_id, "svg.fonttype": "none"}):
        fig = Figure(figsize=(8, 3), layout="constrained")
        ax = fig.add_subplot()
        ax.plot(times, [r.loaded_mv for r in readings], marker=".", color="tab:red",
                label="loaded mV")
        ax.set_ylabel("loaded mV", color="tab:red")
        first = readings[0].at
        for swapped_at in swaps:
            if swapped_at >= first:
                ax.axvline(datetime.fromtimestamp(swapped_at), color="tab:green", linestyle="--")
        with_percent = [(t, r.percent) for t, r in zip(times, readings) if r.percent is not None]
        if with_percent:
            ax2 = ax.twinx()
            ax2.plot(*zip(*with_percent), marker=".", color="tab:blue", label="charge %")
            ax2.set_ylim(0, 100)
            ax2.set_ylabel("charge %", color="tab:blue")
        locator = AutoDateLocator()
        ax.xaxis.set_major_locator(locator)
        ax.xaxis.set_major_formatter(ConciseDateFormatter(locator))
        ax.set_title(f"{lock_id}: battery (dashed: swaps)")
        out = io.StringIO()
        fig.savefig(out, format="svg")
    svg = out.getvalue()
    return svg[svg.index("<svg"):]  # without the XML prolog and doctype, to sit inside HTML


# ---- Compensation ----------------------------------------------------------------------------

_COMPENSATION_FIELDS = ["kind", "status", "date", "at", "customer_number", "customer_name",
                        "lock_id", "address", "record_id", "hour_id", "person", "source",
                        "reason"]


def do_report_compensation(args) -> None:
    with FleetStore() as store:
        report = store.compensation_report(args.provider, args.month)
    mounts = [_mount_row(m) for m in report.mounts]
    hours = [_hour_row(h) for h in report.hours]
    human = _compensation_table(report)
    if args.csv:
        formats.write_csv(args.csv, _COMPENSATION_FIELDS, mounts + hours,
                          formats.csv_delimiter(args))
        human += f"\nwritten: {args.csv}"
    emit(args, human, {
        "provider": report.provider, "month": report.month, "locks_mounted": len(mounts),
        "hours_registered": len(hours), "balanced": report.balanced, "mounts": mounts,
        "hours": hours, "unmatched_mounts": [r for r in mounts if r["status"] != "matched"],
        "unmatched_hours": [r for r in hours if r["status"] != "matched"]})


def _mount_row(m: CompensationMount) -> dict:
    return {"kind": "mount", "status": "matched" if m.hour_id else "no registered hour",
            "date": time.strftime("%Y-%m-%d", time.localtime(m.at)), "at": formats.iso(m.at),
            "customer_number": m.customer_number, "customer_name": m.customer_name,
            "lock_id": m.lock_id, "address": m.address, "record_id": m.record_id,
            "hour_id": m.hour_id, "person": m.person, "source": None, "reason": None}


def _hour_row(h: CompensationHourLine) -> dict:
    hour = h.hour
    return {"kind": "hour", "status": "matched" if h.record_id else "no mounted lock",
            "date": hour.day.isoformat(), "at": None, "customer_number": hour.customer_number,
            "customer_name": h.customer_name, "lock_id": hour.lock_id, "address": None,
            "record_id": h.record_id, "hour_id": hour.hour_id, "person": hour.registered_by,
            "source": hour.source + (f" {hour.source_ref}" if hour.source_ref else ""),
            "reason": h.reason}


def _compensation_table(report: CompensationReport) -> str:
    matched = len(report.mounts) - len(report.unmatched_mounts)
    lines = [f"Compensation \"Uppstart smarta lås\": {report.provider}, {report.month}",
             f"locks mounted: {len(report.mounts)}   hours registered: {len(report.hours)}   "
             f"matched: {matched}"]
    if report.balanced:
        lines.append("no mismatches: one registered hour for every lock mounted")
    else:
        lines.append(f"mismatches: {len(report.unmatched_mounts) + len(report.unmatched_hours)}")
        for m in report.unmatched_mounts:
            lines.append(f"  MOUNTED, NO HOUR   {when(m.at)}  lock {m.lock_id}  "
                         f"{_customer(m.customer_number, m.customer_name)}, {m.address or '-'}")
        for h in report.unmatched_hours:
            lines.append(f"  HOUR, NO MOUNT     {h.hour.day}        hour #{h.hour.hour_id}  "
                         f"{_customer(h.hour.customer_number, h.customer_name)}: {h.reason}")
    if report.mounts:
        lines.append("mounts:")
        lines += [f"  {when(m.at)}  lock {m.lock_id:12} "
                  f"{_customer(m.customer_number, m.customer_name)}  "
                  + (f"hour #{m.hour_id}" if m.hour_id else "NO HOUR") for m in report.mounts]
    return "\n".join(lines)


def _customer(number: str, name: str | None) -> str:
    return f"customer {number}" + (f" {name}" if name else "")


def add_arguments(sub) -> None:
    """The `report` subcommands, for the CLI's parser."""
    batteries = sub.add_parser("batteries", help="locks whose battery needs attention")
    batteries.add_argument("--stale-days", type=float, default=DEFAULT_STALE_AFTER_S / 86400,
                           metavar="N", help="a lock not read for N days is listed (default 7)")
    batteries.add_argument("--html", metavar="FILE", help="also write an HTML report with trends")
    formats.add_csv_arguments(batteries, "the list")
    batteries.add_argument("--json", action="store_true", help="machine-readable output")
    batteries.set_defaults(handler=do_report_batteries)
    doors = sub.add_parser("doors", help="locks whose door needs attention: forced entry, left open")
    doors.add_argument("--forced-days", type=float, default=DEFAULT_FORCED_WITHIN_S / 86400, metavar="N",
                       help="forced entries of the last N days are listed (default 7)")
    formats.add_csv_arguments(doors, "the list")
    doors.add_argument("--json", action="store_true", help="machine-readable output")
    doors.set_defaults(handler=do_report_doors)
    compensation = sub.add_parser("compensation", help="a provider's month: locks mounted beside "
                                                       "the \"Uppstart smarta lås\" hours "
                                                       "registered, with every mismatch")
    compensation.add_argument("--provider", required=True)
    compensation.add_argument("--month", required=True, help="YYYY-MM")
    formats.add_csv_arguments(compensation, "every line")
    compensation.add_argument("--json", action="store_true", help="machine-readable output")
    compensation.set_defaults(handler=do_report_compensation)
