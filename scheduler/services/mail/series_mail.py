"""Mail for people who hold a whole series: each carries the series as their calendar should
now hold it (master with RRULE, every current override, EXDATEs), so one mail applied as
RFC 5546 says leaves their calendar equal to Kindred, whatever changed before it.

Kinds: `series_invite` (they answered "all future") and `series_update` (the series, one of
its occurrences or their answer to one changed). When they attend none of it any more, the
mail is a CANCEL of the whole series for them.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from scheduler.config import Config
from scheduler.domain import language, recurrence
from scheduler.domain.messages import OutgoingMail
from scheduler.models import Gathering, OutboxMessage, Series, User
from scheduler.services.mail.content import (
    _gathering_context,
    compose,
    locale_of,
    series_itip,
    short_when,
)


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
        return None  # none of it is theirs (any more): nothing to put in their calendar
    locale = locale_of(user)
    context = _gathering_context(session, anchor, user, config)
    context["repeats"] = recurrence.describe(
        recurrence.parse_rule(series.rule, series.timezone), locale, series.timezone
    )
    context["removed"] = method == "CANCEL"
    if row.kind == "series_invite":
        subject = language.translate(
            locale,
            "Every time: %(title)s, from %(when)s",
            title=series.title,
            when=short_when(anchor, user.timezone, locale),
        )
    elif method == "CANCEL":
        subject = language.translate(
            locale, "Removed from your calendar: every %(title)s", title=series.title
        )
    else:
        subject = language.translate(
            locale, "Updated: %(title)s (the whole series)", title=series.title
        )
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
