"""CSV that is safe to open in a spreadsheet.

A cell that begins with `=`, `+`, `-`, `@`, a tab or a carriage return is read by Excel,
LibreOffice and Google Sheets as a formula, so text people typed (an answer such as
`=HYPERLINK(...)`) could run in an organizer's spreadsheet. Such a cell gets a single quote
in front, as OWASP's "CSV Injection" advice says: spreadsheets show the text as typed, and a
program reading the CSV sees the text after the quote. Every cell is quoted, so commas,
quotes and line breaks come through whole (RFC 4180).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(text: str) -> str:
    """The cell text, with a leading `'` when a spreadsheet would read it as a formula."""
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def csv_text(header: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """The table as CSV (CRLF line ends, every cell quoted and made spreadsheet-safe)."""
    out = io.StringIO()
    writer = csv.writer(out, quoting=csv.QUOTE_ALL, lineterminator="\r\n")
    writer.writerow([spreadsheet_safe(cell) for cell in header])
    writer.writerows([spreadsheet_safe(cell) for cell in row] for row in rows)
    return out.getvalue()
