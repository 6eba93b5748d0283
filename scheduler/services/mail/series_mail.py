"""Mail for series: one invite carrying the RRULE when someone answers "all future"."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from scheduler.config import Config
from scheduler.domain import recurrence
from scheduler.domain.ical import AttendeeSpec, build_invite
from scheduler.domain.messages import OutgoingMail
from scheduler.models import Gathering, OutboxMessage, Rsvp, Series, User
from scheduler.services.calendars import ical_events
from scheduler.services.gatherings.series import occurrences_of
from scheduler.services.mail.content import (
    ATTENDING_STATES,
    _gathering_context,
    compose,
    short_when,
)


def render_series_invite(
    session: Session, row: OutboxMessage, config: Config, now: datetime
) -> OutgoingMail | None:
    """METHOD:REQUEST with the series' RRULE (EXDATE for dates the person is not attending)."""
    series = session.get(Series, row.payload.get("series_id"))
    user = session.get(User, row.recipient_id) if row.recipient_id else None
    anchor = session.get(Gathering, row.gathering_id) if row.gathering_id else None
    if series is None or user is None or anchor is None:
        return None
    if row.payload.get("sequence") != series.sequence:
        return None  # the series changed since; its own mail says so
    occurrences = occurrences_of(session, series.id)
    states = dict(
        session.execute(
            select(Rsvp.gathering_id, Rsvp.state).where(
                Rsvp.user_id == user.id, Rsvp.gathering_id.in_([g.id for g in occurrences])
            )
        ).all()
    )
    attending = {gid for gid, state in states.items() if state in ATTENDING_STATES}
    if not attending:
        return None
    excluded = {g.id for g in occurrences if g.id not in attending}
    specs = ical_events.series_event_specs(series, occurrences, config, excluded=excluded)
    attendee = AttendeeSpec(name=user.name, email=user.email, partstat="ACCEPTED")
    specs = [replace(spec, attendees=[attendee]) for spec in specs]
    context = _gathering_context(session, anchor, user, config)
    context["repeats"] = recurrence.describe(recurrence.parse_rule(series.rule, series.timezone))
    return compose(
        row,
        config,
        now,
        recipient=user,
        subject=f"Every time: {series.title}, from {short_when(anchor, user.timezone)}",
        template="series_invite",
        context=context,
        ics=build_invite("REQUEST", specs, now),
        ics_method="REQUEST",
    )
