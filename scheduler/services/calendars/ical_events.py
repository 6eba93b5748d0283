"""Gatherings as iCalendar events: the one mapping from rows to `EventSpec`.

Privacy: the ORGANIZER address is Kindred's sender address (with the organizer's name), so
invites and public feeds never reveal anyone's email; an invite lists only its recipient as
ATTENDEE, and feeds list no attendees at all.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email.utils import parseaddr
from functools import lru_cache
from zoneinfo import ZoneInfo

from scheduler.config import Config
from scheduler.domain.ical import AttendeeSpec, EventSpec, OrganizerSpec
from scheduler.domain.timezones import is_host_zone_name
from scheduler.models import Gathering, GatheringStatus, Rsvp, Series, User

log = logging.getLogger(__name__)

# What an RSVP state means for the attendee's calendar entry.
PARTSTAT_BY_STATE = {
    "going": "ACCEPTED",
    "maybe": "TENTATIVE",
    "waitlisted": "TENTATIVE",
    "not_going": "DECLINED",
}
EVENT_STATUS = {
    GatheringStatus.SCHEDULED: "CONFIRMED",
    GatheringStatus.COMPLETED: "CONFIRMED",
    GatheringStatus.CANCELLED: "CANCELLED",
    GatheringStatus.POLLING: "TENTATIVE",
}


def sender_address(config: Config) -> tuple[str, str]:
    """(display name, email) of MAIL_FROM."""
    return _parsed_mail_from(config.mail_from)


@lru_cache(maxsize=8)
def _parsed_mail_from(mail_from: str) -> tuple[str, str]:
    # every mail of a fan-out asks: parse each MAIL_FROM once
    name, email = parseaddr(mail_from)
    return name or "Kindred", email or "kindred@localhost"


def gathering_url(config: Config, gathering_id: int) -> str:
    """The gathering's page."""
    return f"{config.base_url}/g/{gathering_id}"


def partstat(rsvp: Rsvp | None) -> str:
    """PARTSTAT for an RSVP (no answer yet: NEEDS-ACTION)."""
    if rsvp is None:
        return "NEEDS-ACTION"
    return PARTSTAT_BY_STATE.get(rsvp.state, "NEEDS-ACTION")


def is_calendar_event(gathering: Gathering) -> bool:
    """True when the gathering has a time, so it can be a VEVENT."""
    return gathering.starts_at is not None and gathering.ends_at is not None


def calendar_zone(gathering: Gathering) -> str:
    """The zone a gathering's times are written in: its own, or UTC for a name from before
    zones were checked against tzdata (`localtime`), whose instants are exact but whose wall
    clock is unknown; such a row is shown at the right time instead of left out."""
    if is_host_zone_name(gathering.timezone):
        log.warning("gathering %s has the zone %r; shown in UTC", gathering.id, gathering.timezone)
        return "UTC"
    return gathering.timezone


def event_spec(
    gathering: Gathering,
    config: Config,
    *,
    attendees: Sequence[tuple[User, Rsvp | None]] = (),
    status: str | None = None,
) -> EventSpec:
    """The VEVENT of a scheduled (or cancelled, or completed) gathering."""
    if gathering.starts_at is None or gathering.ends_at is None:
        raise ValueError(f"gathering {gathering.id} has no time yet")
    _, sender_email = sender_address(config)
    # an occurrence of a series is that series' event at its RECURRENCE-ID (same UID)
    is_occurrence = gathering.series_id is not None and gathering.recurrence_id is not None
    return EventSpec(
        uid=series_uid_of(gathering) if is_occurrence else gathering.uid,
        recurrence_id=gathering.recurrence_id if is_occurrence else None,
        sequence=gathering.sequence,
        summary=gathering.title,
        starts_at=gathering.starts_at,
        ends_at=gathering.ends_at,
        timezone=calendar_zone(gathering),
        description=gathering.description or "",
        location=gathering.location or "",
        url=gathering_url(config, gathering.id),
        status=status or EVENT_STATUS.get(gathering.status, "CONFIRMED"),
        organizer=OrganizerSpec(name=gathering.organizer.name, email=sender_email),
        attendees=[
            AttendeeSpec(name=user.name, email=user.email, partstat=partstat(rsvp))
            for user, rsvp in attendees
        ],
        categories=[interest.name for interest in gathering.interests],
        last_modified=gathering.updated_at,
    )


def series_uid_of(occurrence: Gathering) -> str:
    """The iCalendar UID of an occurrence's series (its own `uid` is `<series uid>/<start>`)."""
    return occurrence.uid.rsplit("/", 1)[0]


def series_first_start(series: Series) -> datetime:
    """The UTC instant of the series' first occurrence (its DTSTART)."""
    local = datetime.fromisoformat(series.first_start_local)
    return local.replace(tzinfo=ZoneInfo(series.timezone)).astimezone(UTC)


def is_override(occurrence: Gathering, series: Series) -> bool:
    """True when an occurrence differs from what the series' rule and template say."""
    template = series.template
    return (
        occurrence.starts_at != occurrence.recurrence_id
        or occurrence.duration_minutes != template.get("duration_minutes")
        or occurrence.title != series.title
        or (occurrence.location or "") != (series.location or "")
        or (occurrence.description or "") != (series.description or "")
    )


def series_event_specs(
    series: Series,
    occurrences: Sequence[Gathering],
    config: Config,
    *,
    excluded: set[int] = frozenset(),  # type: ignore[assignment]
) -> list[EventSpec]:
    """A series as iCalendar wants it: one master VEVENT with RRULE and EXDATE (cancelled
    occurrences, and `excluded` ones such as those the feed's owner declined), plus a
    RECURRENCE-ID override for each occurrence that was moved or edited. All share the
    series' UID."""
    _, sender_email = sender_address(config)
    first = series_first_start(series)
    duration = timedelta(minutes=series.template.get("duration_minutes", 60))
    organizer_name = occurrences[0].organizer.name if occurrences else "Kindred"
    cancelled = [
        g.recurrence_id
        for g in occurrences
        if g.recurrence_id is not None
        and (g.status == GatheringStatus.CANCELLED or g.id in excluded)
    ]
    categories = list(series.template.get("interests", []))
    master = EventSpec(
        uid=series.uid,
        sequence=series.sequence,
        summary=series.title,
        starts_at=first,
        ends_at=first + duration,
        timezone=series.timezone,
        description=series.description or "",
        location=series.location or "",
        url=f"{config.base_url}/g/{occurrences[0].id}" if occurrences else None,
        organizer=OrganizerSpec(name=organizer_name, email=sender_email),
        categories=categories,
        rrule=series.rule,
        exdates=cancelled,
    )
    specs = [master]
    for occurrence in occurrences:
        if occurrence.status == GatheringStatus.CANCELLED or occurrence.recurrence_id is None:
            continue
        if occurrence.id in excluded:
            continue
        if not is_override(occurrence, series):
            continue
        base = event_spec(occurrence, config)
        specs.append(
            replace(
                base,
                uid=series.uid,
                sequence=max(occurrence.sequence, series.sequence),
                recurrence_id=occurrence.recurrence_id,
            )
        )
    return specs
