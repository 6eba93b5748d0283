"""People's own calendars, read for busy times: add, list, remove, refresh, and the busy
intervals a person sees on a poll's grid.

A calendar is fetched by the worker (`refresh`, job REFRESH_JOB), never in a request: when it
is added, and again every CALENDAR_REFRESH_MINUTES while its owner has an open poll to answer
(the clock's sweep, `stale_calendar_ids`). A fetch is conditional (If-None-Match with the
stored ETag), capped in size and time and refused for private addresses (safe_fetch.py). Only
merged busy intervals are stored (domain/busy_times.py), from a day ago to HORIZON ahead.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta

from sqlalchemy import exists, or_, select
from sqlalchemy.orm import Session

from scheduler.config import Config
from scheduler.domain import busy_times, language
from scheduler.domain.errors import Conflict, NotFound
from scheduler.extensions import enqueue_after_commit
from scheduler.models import (
    AvailabilityInterval,
    CalendarStatus,
    Gathering,
    GatheringStatus,
    GroupMember,
    User,
    UserCalendar,
)
from scheduler.queues import DEFAULT
from scheduler.services.calendars import safe_fetch
from scheduler.services.gatherings import access

log = logging.getLogger(__name__)

REFRESH_JOB = "workers.calendars.refresh"
HORIZON = timedelta(days=400)
MAX_CALENDARS = 10  # per person


def _utc_text(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


def add_calendar(session: Session, user: User, url: str, config: Config) -> UserCalendar:
    """Keep a calendar URL of the user's (fetched by the worker after commit)."""
    url = url.strip()
    if url.lower().startswith("webcal://"):
        url = "https://" + url[len("webcal://") :]  # what calendar apps mean by webcal
    safe_fetch.check_url(url)  # FetchRefused is a 422 naming `url`
    owned = session.scalars(select(UserCalendar).where(UserCalendar.user_id == user.id)).all()
    if any(c.url == url for c in owned):
        raise Conflict("This calendar is already added.")
    if len(owned) >= MAX_CALENDARS:
        raise Conflict("At most %(count)s calendars; remove one first.", count=MAX_CALENDARS)
    calendar = UserCalendar(user_id=user.id, url=url, status=CalendarStatus.PENDING, busy=[])
    session.add(calendar)
    session.flush()
    enqueue_after_commit(session, REFRESH_JOB, calendar.id, queue=DEFAULT)
    return calendar


def error_text(calendar: UserCalendar, locale: str) -> str | None:
    """Why the calendar's last fetch failed, in `locale` (None when it did not)."""
    if not calendar.error:
        return None
    try:
        stored = json.loads(calendar.error)
        return language.translate(locale, stored["message"], **stored["params"])
    except (ValueError, KeyError, TypeError):
        return calendar.error  # written before errors were kept as message and values


def calendars_of(session: Session, user: User) -> list[UserCalendar]:
    """The user's calendars, oldest first."""
    return list(
        session.scalars(
            select(UserCalendar).where(UserCalendar.user_id == user.id).order_by(UserCalendar.id)
        )
    )


def remove_calendar(session: Session, user: User, calendar_id: int) -> None:
    """Forget one of the user's calendars and its busy times (404 for anyone else's)."""
    calendar = session.get(UserCalendar, calendar_id)
    if calendar is None or calendar.user_id != user.id:
        raise NotFound("No calendar with id %(id)s.", id=calendar_id)
    session.delete(calendar)


def refresh(session: Session, calendar_id: int, config: Config, *, now: datetime) -> str:
    """Fetch one calendar and keep its busy intervals; returns its status. A failure is kept
    on the row (status `failed`, `error`), the busy times read before stay."""
    calendar = session.get(UserCalendar, calendar_id)
    if calendar is None:
        return "gone"
    owner = session.get(User, calendar.user_id)
    zone = owner.timezone if owner is not None else "UTC"
    try:
        fetched = safe_fetch.fetch(
            calendar.url,
            etag=calendar.etag if calendar.status == CalendarStatus.OK else None,
            max_bytes=config.calendar_fetch_max_bytes,
            timeout=config.calendar_fetch_timeout_seconds,
            allow_private=config.calendar_fetch_allow_private,
        )
        if fetched.status == 200:
            intervals = busy_times.busy_intervals(
                fetched.body, now - timedelta(days=1), now + HORIZON, zone
            )
            calendar.busy = [[_utc_text(s), _utc_text(e)] for s, e in intervals]
            calendar.etag = (fetched.etag or "")[:500] or None
    except (safe_fetch.FetchRefused, busy_times.UnreadableCalendar) as failed:
        log.info("calendar %s not read: %s (%r)", calendar.id, failed, failed.__cause__)
        calendar.status = CalendarStatus.FAILED
        # kept as the message and its values, so each reader sees it in their language
        calendar.error = json.dumps({"message": failed.template, "params": failed.params})
    else:
        calendar.status = CalendarStatus.OK
        calendar.error = None
    calendar.fetched_at = now
    return calendar.status


def stale_calendar_ids(session: Session, config: Config, *, now: datetime) -> list[int]:
    """Calendars not fetched for CALENDAR_REFRESH_MINUTES whose owner has an open poll: one
    they answered, organize, or that is in a group of theirs."""
    polling = (Gathering.status == GatheringStatus.POLLING) & Gathering.poll.has()
    open_poll = exists().where(
        polling,
        or_(
            Gathering.organizer_id == UserCalendar.user_id,
            exists().where(
                AvailabilityInterval.gathering_id == Gathering.id,
                AvailabilityInterval.user_id == UserCalendar.user_id,
            ),
            exists().where(
                GroupMember.group_id == Gathering.group_id,
                GroupMember.user_id == UserCalendar.user_id,
            ),
        ),
    )
    cutoff = now - timedelta(minutes=config.calendar_refresh_minutes)
    return list(
        session.scalars(
            select(UserCalendar.id).where(
                or_(UserCalendar.fetched_at.is_(None), UserCalendar.fetched_at < cutoff),
                open_poll,
            )
        )
    )


def busy_for_poll(
    session: Session, gathering: Gathering, user: User
) -> list[tuple[datetime, datetime]]:
    """The user's busy intervals inside the poll's window, from all their calendars."""
    access.require_visible(session, gathering, user)
    poll = gathering.poll
    if poll is None:
        raise NotFound(
            "Gathering %(id)s has no poll (it was created with a fixed time).", id=gathering.id
        )
    stored = []
    for calendar in calendars_of(session, user):
        for start, end in calendar.busy or []:
            stored.append((datetime.fromisoformat(start), datetime.fromisoformat(end)))
    return busy_times.merge(busy_times.within(stored, poll.window_start, poll.window_end))
