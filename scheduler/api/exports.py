"""Downloads for organizers: the attendee list as CSV (the API and the gathering page)."""

from __future__ import annotations

from flask import Response

from scheduler.domain.spreadsheet import csv_text
from scheduler.models import Gathering
from scheduler.services.gatherings.attendance import AttendeeTable


def attendees_csv_response(table: AttendeeTable, gathering: Gathering) -> Response:
    """The table as a CSV download (UTF-8, no byte order mark: programs read the header as
    written)."""
    return Response(
        csv_text(table.header, table.rows).encode("utf-8"),
        content_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="gathering-{gathering.id}-attendees.csv"',
            "Cache-Control": "private, no-store",
        },
    )
