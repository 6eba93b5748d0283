"""The profile's "Busy times from your calendar": add and remove one's own calendar URLs.

The same use cases as /api/v1/me/calendars (services/calendars/busy.py); the worker fetches
what is added. Both forms lead back to the profile's list."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, request, url_for
from flask_babel import gettext as _

from scheduler.extensions import current_services, db_session
from scheduler.services.calendars import busy
from scheduler.web.auth import login_required, protect, require_user

bp = protect(Blueprint("calendar_pages", __name__))


def _back() -> Any:
    return redirect(url_for("pages.profile") + "#calendars")


@bp.post("/profile/calendars")
@login_required
def add_calendar() -> Any:
    """Keep a calendar URL; its busy times show on poll grids once the worker has read it.
    A URL that cannot be read is a 422 page naming it, one already added a 409."""
    session = db_session()
    url = request.form.get("url", "")
    busy.add_calendar(session, require_user(), url, current_services().config)
    session.commit()
    flash(_("Calendar added: its busy times appear on polls in a minute or two."), "success")
    return _back()


@bp.post("/profile/calendars/<int:calendar_id>/delete")
@login_required
def remove_calendar(calendar_id: int) -> Any:
    """Forget the calendar and the busy times read from it."""
    session = db_session()
    busy.remove_calendar(session, require_user(), calendar_id)  # someone else's: 404
    session.commit()
    flash(_("Calendar removed, with its busy times."), "success")
    return _back()
