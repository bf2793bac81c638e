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

from ..fleet.batteries import CRITICAL, DEFAULT_STALE_AFTER_S, LOW, STALE
from ..fleet.doors import DEFAULT_FORCED_WITHIN_S, FORCED, LEFT_OPEN, DoorWarning
from ..fleet.models import (BatteryReadingRecord, BatteryWarning, CompensationHourLine,
                            CompensationMount, CompensationReport)
from ..fleet.store import FleetStore
from ..codes import BatteryState
from ..i18n import N_, Texts, _, language, pgettext
from . import formats
from .formats import named, table, when
from .output import CommandError, emit

TREND_DAYS = 180  # the plots show half a year: a battery lasts about a year
TREND_MAX_READINGS = 2000  # enough for daily readings over the window, bounded per lock
_CSV_FIELDS = ["level", "lock_id", "customer_number", "customer_name", "battery", "battery_code",
               "loaded_mv", "idle_mv", "percent", "days_left", "reading_at", "last_swap_at",
               "reason"]
# A warning's level as a person reads it (--json, --csv and the page's CSS keep the coded one).
_LEVEL = Texts({CRITICAL: N_("CRITICAL"), LOW: N_("LOW"), STALE: N_("stale"),
                FORCED: N_("FORCED ENTRY"), LEFT_OPEN: N_("LEFT OPEN")})


def _row(warning: BatteryWarning) -> dict:
    """A warning as JSON (and CSV): ISO times, the battery state named beside its code."""
    row = formats.iso_times(asdict(warning), "reading_at", "last_swap_at")
    del row["state"]
    return {**row, **named("battery", warning.state, BatteryState)}


def do_report_batteries(args) -> None:
    if args.stale_days <= 0:
        raise CommandError(_("--stale-days must be positive"))
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
    human = _table(warnings) + "".join("\n" + _("written: {path}").format(path=path)
                                       for path in written)
    emit(args, human, rows)


def _table(warnings: list[BatteryWarning]) -> str:
    if not warnings:
        return _("all batteries OK: every lock reported recently, none LOW or CRITICAL")
    return table([_("level"), pgettext("column", "lock"), _("customer"), _("mV"), "%", _("days"), _("last reading"),
                  _("last swap"), _("what to do")],
                 [[_LEVEL.get(w.level, w.level), w.lock_id,
                   " ".join(x for x in (w.customer_number, w.customer_name) if x) or None,
                   w.loaded_mv, w.percent, w.days_left, when(w.reading_at), when(w.last_swap_at),
                   w.reason] for w in warnings])


def do_report_doors(args) -> None:
    """The locks whose door needs attention (docs/knock.md): forced entries, doors left open."""
    if args.forced_days <= 0:
        raise CommandError(_("--forced-days must be positive"))
    with FleetStore() as store:
        warnings = store.door_warnings(forced_within_s=int(args.forced_days * 86400))
    rows = [formats.iso_times(asdict(w), "at") for w in warnings]
    if args.csv:
        formats.write_csv(args.csv, list(DoorWarning.__dataclass_fields__), rows, formats.csv_delimiter(args))
    human = (_("no door warnings: no forced entry, no door left open") if not warnings else
             table([_("level"), pgettext("column", "lock"), _("customer"), _("when"), _("what to do")],
                   [[_LEVEL.get(w.level, w.level), w.lock_id,
                     " ".join(x for x in (w.customer_number, w.customer_name) if x) or None,
                     when(w.at), w.reason] for w in warnings]))
    if args.csv:
        human += "\n" + _("written: {path}").format(path=args.csv)
    emit(args, human, rows)


def _dash(value: int | None) -> str:
    return "-" if value is None else str(value)


# ---- HTML ------------------------------------------------------------------------------------

_STYLE = """body{font-family:sans-serif;margin:2em;color:#222}
table{border-collapse:collapse}td,th{padding:.3em .7em;border-bottom:1px solid #ccc;text-align:left}
.CRITICAL{background:#f8d0d0}.LOW{background:#fbecc4}.stale{background:#e8e8e8}
section{margin-top:2em}svg{max-width:100%;height:auto}"""


def _html(warnings: list[BatteryWarning], trends: dict, now: int, stale_days: float) -> str:
    e = html.escape
    # The page is in the user's language, and says so (screen readers, hyphenation).
    parts = ["<!DOCTYPE html>", f'<html lang="{e(language())}"><head><meta charset="utf-8">',
             "<title>" + e(_("hemlås battery report")) + "</title>",
             f"<style>{_STYLE}</style></head><body>",
             "<h1>" + e(_("Battery report")) + "</h1>",
             "<p>" + e(_("{now}: locks whose battery is CRITICAL or LOW, or not read for {days} "
                         "days.").format(now=when(now), days=f"{stale_days:g}")) + "</p>"]
    if not warnings:
        parts.append("<p><strong>" + e(_("All batteries OK.")) + "</strong></p></body></html>")
        return "\n".join(parts)
    headers = [_("level"), pgettext("column", "lock"), _("customer"), _("loaded mV"), "%", _("days left"),
               _("last reading"), _("last swap"), _("what to do")]
    parts.append("<table><tr>" + "".join(f"<th>{e(h)}</th>" for h in headers) + "</tr>")
    for w in warnings:
        customer = " ".join(x for x in (w.customer_number, w.customer_name) if x) or "-"
        cells = [_LEVEL.get(w.level, w.level), w.lock_id, customer, _dash(w.loaded_mv), _dash(w.percent),
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
                     else "<p>" + e(_("No readings in the last {days} days.")
                                    .format(days=TREND_DAYS)) + "</p>")
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
                label=_("loaded mV"))
        ax.set_ylabel(_("loaded mV"), color="tab:red")
        first = readings[0].at
        for swapped_at in swaps:
            if swapped_at >= first:
                ax.axvline(datetime.fromtimestamp(swapped_at), color="tab:green", linestyle="--")
        with_percent = [(t, r.percent) for t, r in zip(times, readings) if r.percent is not None]
        if with_percent:
            ax2 = ax.twinx()
            ax2.plot(*zip(*with_percent), marker=".", color="tab:blue", label=_("charge %"))
            ax2.set_ylim(0, 100)
            ax2.set_ylabel(_("charge %"), color="tab:blue")
        locator = AutoDateLocator()
        ax.xaxis.set_major_locator(locator)
        ax.xaxis.set_major_formatter(ConciseDateFormatter(locator))
        ax.set_title(_("{lock_id}: battery (dashed: swaps)").format(lock_id=lock_id))
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
        human += "\n" + _("written: {path}").format(path=args.csv)
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
    lines = [_("Compensation \"Uppstart smarta lås\": {provider}, {month}").format(
                 provider=report.provider, month=report.month),
             _("locks mounted: {mounts}   hours registered: {hours}   matched: {matched}").format(
                 mounts=len(report.mounts), hours=len(report.hours), matched=matched)]
    if report.balanced:
        lines.append(_("no mismatches: one registered hour for every lock mounted"))
    else:
        lines.append(_("mismatches: {n}").format(
            n=len(report.unmatched_mounts) + len(report.unmatched_hours)))
        for m in report.unmatched_mounts:
            lines.append(_("  MOUNTED, NO HOUR   {at}  lock {lock_id}  {customer}, {address}").format(
                at=when(m.at), lock_id=m.lock_id,
                customer=_customer(m.customer_number, m.customer_name), address=m.address or "-"))
        for h in report.unmatched_hours:
            lines.append(_("  HOUR, NO MOUNT     {day}        hour #{hour_id}  {customer}: {reason}")
                         .format(day=h.hour.day, hour_id=h.hour.hour_id,
                                 customer=_customer(h.hour.customer_number, h.customer_name),
                                 reason=h.reason))
    if report.mounts:
        lines.append(_("mounts:"))
        for m in report.mounts:
            hour = (_("hour #{hour_id}").format(hour_id=m.hour_id) if m.hour_id
                    else _("NO HOUR"))
            lines.append(_("  {at}  lock {lock_id} {customer}  {hour}").format(
                at=when(m.at), lock_id=f"{m.lock_id:12}",
                customer=_customer(m.customer_number, m.customer_name), hour=hour))
    return "\n".join(lines)


def _customer(number: str, name: str | None) -> str:
    if name:
        return _("customer {number} {name}").format(number=number, name=name)
    return _("customer {number}").format(number=number)


def add_arguments(sub) -> None:
    """The `report` subcommands, for the CLI's parser."""
    batteries = sub.add_parser("batteries", help=_("locks whose battery needs attention"))
    batteries.add_argument("--stale-days", type=float, default=DEFAULT_STALE_AFTER_S / 86400,
                           metavar="N", help=_("a lock not read for N days is listed (default 7)"))
    batteries.add_argument("--html", metavar="FILE",
                           help=_("also write an HTML report with trends"))
    formats.add_csv_arguments(batteries, _("also write the list as CSV (UTF-8, opens in Excel)"))
    batteries.add_argument("--json", action="store_true", help=_("machine-readable output"))
    batteries.set_defaults(handler=do_report_batteries)
    doors = sub.add_parser("doors", help=_("locks whose door needs attention: forced entry, "
                                           "left open"))
    doors.add_argument("--forced-days", type=float, default=DEFAULT_FORCED_WITHIN_S / 86400,
                       metavar="N", help=_("forced entries of the last N days are listed "
                                           "(default 7)"))
    formats.add_csv_arguments(doors, _("also write the list as CSV (UTF-8, opens in Excel)"))
    doors.add_argument("--json", action="store_true", help=_("machine-readable output"))
    doors.set_defaults(handler=do_report_doors)
    compensation = sub.add_parser("compensation", help=_(
        "a provider's month: locks mounted beside the \"Uppstart smarta lås\" hours registered, "
        "with every mismatch"))
    compensation.add_argument("--provider", required=True,
                              help=_("the provider, as customers name it"))
    compensation.add_argument("--month", required=True, help=_("the month (YYYY-MM)"))
    formats.add_csv_arguments(compensation, _("also write every line as CSV (UTF-8, opens in "
                                              "Excel)"))
    compensation.add_argument("--json", action="store_true", help=_("machine-readable output"))
    compensation.set_defaults(handler=do_report_compensation)
