"""CSV that opens as it should in a spreadsheet set to Swedish (Excel, LibreOffice): UTF-8 with
a byte-order mark (else Excel reads it as Windows-1252: "Ã¥" for "å"), ";" between fields (","
is the decimal sign there), decimal commas, and no cell a spreadsheet would run as a formula.

Formula injection (OWASP, "CSV Injection"): a cell beginning with =, +, -, @, a tab or a
carriage return is run as a formula when opened; a customer's name typed as
"=HYPERLINK(...)" would then act in the coordinator's spreadsheet. Such a text cell gets a
leading apostrophe, which the spreadsheet shows as text and does not run; numbers are written
by this module and never begin so.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence

BOM = "\ufeff"
DELIMITER = ";"
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def text_cell(value: str | None) -> str:
    if value is None:
        return ""
    value = str(value)
    return "'" + value if value.startswith(_FORMULA_START) else value


def decimal_cell(value: float | None, places: int) -> str:
    """A number with a decimal comma ("4,10"); empty for None."""
    if value is None:
        return ""
    return f"{value:.{places}f}".replace(".", ",")


def int_cell(value: int | None) -> str:
    return "" if value is None else str(int(value))


def csv_document(header: Sequence[str], rows: Iterable[Sequence[str]]) -> bytes:
    """The document's bytes. Every cell is made by the functions above; the header's texts
    are passed through text_cell as any text is."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=DELIMITER, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerow([text_cell(h) for h in header])
    writer.writerows(rows)
    return (BOM + out.getvalue()).encode("utf-8")
