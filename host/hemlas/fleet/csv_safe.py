"""CSV for spreadsheets that are safe to open: a cell that starts like a formula is written as
text, so a carer's reason or a planning system's visit id such as ``=cmd|' /C calc'!A0`` is
shown, never run (OWASP, "CSV Injection"). UTF-8 with a byte-order mark, as every CSV of
hemlas (Excel then reads å, ä, ö). The value stays as it was in the store: only the export
escapes it.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence

# What Excel, LibreOffice and Google Sheets start a formula with (tab and CR: a cell that
# starts with one is trimmed by some, leaving the formula).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def cell(value: object) -> str:
    """The value as a cell's text, a leading quote before what would start a formula."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def document(header: Sequence[str], rows: Iterable[Sequence[object]], delimiter: str = ",") -> str:
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out, delimiter=delimiter)
    writer.writerow(header)
    writer.writerows([cell(value) for value in row] for row in rows)
    return out.getvalue()
