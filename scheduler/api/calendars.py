"""Two-way calendars: the caller's own calendars, and their busy times on a poll."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_babel import get_locale
from flask_smorest import Blueprint

from scheduler.api.auth import BEARER_AUTH, current_user
from scheduler.extensions import current_services, db_session
from scheduler.schemas.calendars import BusySchema, CalendarArgsSchema, CalendarSchema
from scheduler.schemas.common import WithExtra
from scheduler.services.calendars import busy
from scheduler.services.gatherings import lifecycle

blp = Blueprint("calendars", __name__, url_prefix="/api/v1", description="Two-way calendars")


@blp.route("/me/calendars")
class MyCalendars(MethodView):
    """The calendars Kindred reads the caller's busy times from."""

    @blp.doc(security=BEARER_AUTH)
    @blp.response(200, CalendarSchema(many=True))
    def get(self) -> Any:
        """The caller's calendars with how their last fetch went (in the caller's language)."""
        locale = str(get_locale())
        return [
            WithExtra(calendar, error=busy.error_text(calendar, locale))
            for calendar in busy.calendars_of(db_session(), current_user())
        ]

    @blp.doc(security=BEARER_AUTH)
    @blp.arguments(CalendarArgsSchema)
    @blp.response(201, CalendarSchema)
    @blp.alt_response(409, description="Already added, or too many calendars")
    def post(self, args: dict[str, Any]) -> Any:
        """Add an ICS URL; the worker fetches it (status `pending` until then). Only busy
        intervals are kept, never titles or details."""
        session = db_session()
        user = current_user()
        calendar = busy.add_calendar(session, user, args["url"], current_services().config)
        session.commit()
        return calendar


@blp.route("/me/calendars/<int:calendar_id>")
class MyCalendarById(MethodView):
    """One of the caller's calendars."""

    @blp.doc(security=BEARER_AUTH)
    @blp.response(204)
    @blp.alt_response(404, description="Not one of the caller's calendars")
    def delete(self, calendar_id: int) -> None:
        """Forget the calendar and the busy times read from it."""
        session = db_session()
        busy.remove_calendar(session, current_user(), calendar_id)
        session.commit()


@blp.route("/gatherings/<int:gathering_id>/busy")
class PollBusy(MethodView):
    """The caller's busy times inside a poll's window."""

    @blp.doc(security=BEARER_AUTH)
    @blp.response(200, BusySchema)
    def get(self, gathering_id: int) -> Any:
        """Busy intervals from the caller's calendars (recurrences expanded, time zones
        honoured), clipped to the poll's window; empty without calendars."""
        session = db_session()
        gathering = lifecycle.get_gathering(session, gathering_id)
        intervals = busy.busy_for_poll(session, gathering, current_user())
        return {"busy": [{"start": start, "end": end} for start, end in intervals]}
