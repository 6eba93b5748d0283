"""Mail for people who hold a whole series: each carries the series as their calendar should
now hold it (master with RRULE, every current override, EXDATEs), so one mail applied as
RFC 5546 says leaves their calendar equal to Kindred, whatever changed before it.

Kinds: `series_invite` (they answered "all future") and `series_update` (the series, one of
its occurrences or their answer to one changed). When they attend none of it any more, the
mail is a CANCEL of the whole series for them.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from scheduler.config import Config
from scheduler.domain import recurrence
from scheduler.domain.ical import AttendeeSpec, EventSpec, build_invite
from scheduler.domain.messages import OutgoingMail
from scheduler.models import Gathering, OutboxMessage, Rsvp, Series, User
from scheduler.services.calendars import ical_events
from scheduler.services.gatherings.series import occurrences_of
from scheduler.services.mail.content import _gathering_context, compose, short_when

SERIES_KINDS = ("series_invite", "series_update")


def series_itip(
    session: Session, series: Series, user: User, config: Config, now: datetime
) -> tuple[str, bytes]:
    """(METHOD, text) of what this person's calendar needs for the series: a REQUEST with
    their whole series, or, when they attend none of it, a CANCEL of the series for them
    (SEQUENCE above the last REQUEST's, no STATUS: RFC 5546 §3.2.5)."""
    occurrences = occurrences_of(session, series.id)
    states = dict(
        session.execute(
            select(Rsvp.gathering_id, Rsvp.state).where(
                Rsvp.user_id == user.id, Rsvp.gathering_id.in_([g.id for g in occurrences])
            )
        ).all()
    )
    specs = ical_events.personal_series_specs(series, occurrences, states, user, config)
    if specs:
        return "REQUEST", build_invite("REQUEST", specs, now)
    (master,) = ical_events.series_event_specs(series, [], config)
    removed: EventSpec = replace(
        master,
        sequence=ical_events.series_sequence(series, occurrences) + 1,
        attendees=[AttendeeSpec(name=user.name, email=user.email, partstat="DECLINED")],
    )
    return "CANCEL", build_invite("CANCEL", [removed], now, removes_attendee=True)


def render_series_mail(
    session: Session, row: OutboxMessage, config: Config, now: datetime
) -> OutgoingMail | None:
    """The whole series for one holder, as it is when the mail goes out."""
    series = session.get(Series, row.payload.get("series_id"))
    user = session.get(User, row.recipient_id) if row.recipient_id else None
    anchor = session.get(Gathering, row.gathering_id) if row.gathering_id else None
    if series is None or user is None or anchor is None:
        return None
    method, ics = series_itip(session, series, user, config, now)
    if method == "CANCEL" and row.kind == "series_invite":
        return None  # they answered "all future" no without holding the series
    context = _gathering_context(session, anchor, user, config)
    context["repeats"] = recurrence.describe(recurrence.parse_rule(series.rule, series.timezone))
    context["removed"] = method == "CANCEL"
    if row.kind == "series_invite":
        subject = f"Every time: {series.title}, from {short_when(anchor, user.timezone)}"
    elif method == "CANCEL":
        subject = f"Removed from your calendar: every {series.title}"
    else:
        subject = f"Updated: {series.title} (the whole series)"
    return compose(
        row,
        config,
        now,
        recipient=user,
        subject=subject,
        template=row.kind,
        context=context,
        ics=ics,
        ics_method=method,
    )
