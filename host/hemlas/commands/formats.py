"""One vocabulary for everything the CLI prints or writes, shared by every command.

- **JSON:** a lock is ``lock_id`` everywhere; every time is ISO 8601 with its UTC offset
  (:func:`iso`); a state is its name beside its code (:func:`named`: ``"state": "unlocked",
  "state_code": 2``).
- **Tables:** a header row, and columns as wide as their widest value: nothing is cut
  (:func:`table`).
- **CSV:** UTF-8 with a byte-order mark, so a Swedish spreadsheet (Excel) reads å, ä and ö
  right; ISO times; ``,`` by default, ``;`` on request (a Swedish Excel splits on ``;``);
  written owner-only, since listings name home-care customers (:func:`write_csv`).
"""

from __future__ import annotations

import csv
import io
import os
import time
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from enum import IntEnum

from ..i18n import _
from .output import CommandError, emit

CSV_DELIMITERS = {"comma": ",", "semicolon": ";"}


def iso(t: int | float | None) -> str | None:
    """A unix time as local ISO 8601 with its UTC offset (unambiguous across the autumn clock
    change), or None."""
    if t is None:
        return None
    return datetime.fromtimestamp(t).astimezone().isoformat(timespec="seconds")


def iso_times(row: Mapping, *fields: str) -> dict:
    """A copy of row with the named unix-time fields as ISO 8601 (:func:`iso`)."""
    return {k: iso(v) if k in fields else v for k, v in row.items()}


def when(t: int | None) -> str:
    """A unix time as local "YYYY-MM-DD HH:MM" for a terminal, or "-"."""
    return "-" if t is None else time.strftime("%Y-%m-%d %H:%M", time.localtime(t))


def named(field: str, code: int | None, names: type[IntEnum]) -> dict:
    """A state as its name beside its code: {field: "unlocked", field_code: 2}."""
    if code is None:
        return {field: None, f"{field}_code": None}
    try:
        name = names(code).name.lower()
    except ValueError:
        name = f"unknown ({code})"
    return {field: name, f"{field}_code": int(code)}


def table(headers: Sequence[str], rows: Iterable[Sequence[object]], empty: str = "") -> str:
    """Rows under a header row, each column as wide as its widest cell; nothing is cut.
    ``empty`` is said instead when there are no rows."""
    cells = [["-" if c is None else str(c) for c in row] for row in rows]
    if not cells:
        return empty
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(headers)]
    lines = [list(headers), *cells]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(line, widths)).rstrip() for line in lines)


def csv_text(fields: Sequence[str], rows: Iterable[Mapping], delimiter: str = ",") -> str:
    """Rows as CSV text (no byte-order mark: write_csv adds it)."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(fields), extrasaction="ignore", delimiter=delimiter)
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def write_csv(path: str, fields: Sequence[str], rows: Iterable[Mapping], delimiter: str = ",") -> None:
    """Write rows as CSV: UTF-8 with a byte-order mark, owner-only (0600)."""
    write_private(path, csv_text(fields, rows, delimiter), encoding="utf-8-sig")


def write_private(path: str, content: str, encoding: str = "utf-8") -> None:
    """Write a file owner-only: reports and listings name customers, who are home-care clients."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with open(fd, "w", encoding=encoding, newline="") as out:
            out.write(content)
    except OSError as err:
        raise CommandError(_("cannot write {path}: {reason}")
                           .format(path=path, reason=err.strerror or err)) from err


def add_csv_arguments(cmd, help_text: str | None = None) -> None:
    """--csv FILE and --csv-delimiter, alike on every command that writes CSV (help_text: the
    --csv option's own, translated, when it writes more than "the listing")."""
    cmd.add_argument("--csv", metavar="FILE", help=help_text or _(
        "also write the listing as CSV (UTF-8, opens in Excel)"))
    cmd.add_argument("--csv-delimiter", choices=sorted(CSV_DELIMITERS), default="comma",
                     help=_("the CSV field separator: semicolon for a spreadsheet set to Swedish"))


def csv_delimiter(args) -> str:
    return CSV_DELIMITERS[getattr(args, "csv_delimiter", None) or "comma"]


def emit_listing(args, human: str, rows: list[dict], fields: Sequence[str],
                 csv_rows: list[dict] | None = None) -> None:
    """A listing: the terminal text (or --json rows), and with --csv FILE the rows as CSV too
    (csv_rows, when a cell must differ from JSON: a list as one cell, say)."""
    if getattr(args, "csv", None):
        write_csv(args.csv, fields, rows if csv_rows is None else csv_rows, csv_delimiter(args))
        human += "\n" + _("written: {path}").format(path=args.csv)
    emit(args, human, rows)
